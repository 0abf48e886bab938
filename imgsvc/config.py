"""Where the API is, and who is calling: the command line's configuration.

The API URL is ``--api-url`` / ``IMGSVC_API_URL``, else read from a stack outputs file: the one
``--outputs`` / ``IMGSVC_OUTPUTS`` names (what ``cdk deploy --outputs-file`` writes), else the
local cloud's ``.localcloud/outputs.json`` that ``make up`` writes, found in the current
folder or a parent, else in the checkout imgsvc was installed from.

On the local cloud, the stack's URL names a host that needs public DNS (as
``localcloud/outputs.py`` explains); the same API answers on loopback under
``/_aws/execute-api/<id>/<stage>/``, on the local cloud's port (``LOCALCLOUD_PORT``, else the
port the outputs name). Its tokens come from the development issuer (``imgsvc token --user``),
which exists only there: nothing here mints a token for any other stack.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from imgsvc.errors import ConfigurationError

LOCAL_OUTPUTS = Path(".localcloud") / "outputs.json"
DEV_ISSUER = Path(".localcloud") / "dev-issuer"
STACK_PREFIX = "ImageService-"
# The development issuer's name (localcloud/dev_issuer.py): a stack that trusts it is a local one.
DEV_ISSUER_NAME = "urn:image-service:local-dev-issuer"
DEFAULT_LOCALCLOUD_PORT = 4566


def installed_from() -> Path:
    """The checkout imgsvc was installed from (pip install -e .): imgsvc/ is at its root."""
    return Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    """The API to call, and what the outputs said about the stack behind it (if they were read)."""

    api_url: str
    outputs: dict[str, str]
    # The checkout whose local cloud this is (its dev issuer lives there); None for other stacks.
    local_checkout: Path | None = None

    @property
    def is_local(self) -> bool:
        return self.local_checkout is not None


def find_local_checkout(start: Path) -> Path | None:
    """The nearest folder (``start`` or a parent, else imgsvc's own checkout) with local outputs."""
    for folder in (start, *start.parents, installed_from()):
        if (folder / LOCAL_OUTPUTS).is_file():
            return folder
    return None


def resolve_target(api_url: str | None, outputs_file: Path | None, *, cwd: Path | None = None) -> Target:
    """The API to call: the URL given, else the one the outputs file names."""
    if outputs_file is not None:
        outputs = stack_outputs(outputs_file)
        local = _is_local(outputs)
        # The checkout is the folder that holds .localcloud/ (its dev issuer lives there too).
        checkout = outputs_file.resolve().parent.parent if local else None
        return Target(api_url or _api_url_of(outputs, local=local), outputs, checkout)
    checkout = find_local_checkout(cwd or Path.cwd())
    if api_url:
        # A URL given: the local cloud's outputs matter only when it is the local cloud's.
        if checkout is None or not _is_loopback(api_url):
            return Target(api_url, {})
        return Target(api_url, stack_outputs(checkout / LOCAL_OUTPUTS), checkout)
    if checkout is None:
        raise ConfigurationError(
            "no API URL: pass --api-url or set IMGSVC_API_URL "
            "(or run `make up` in the project: imgsvc reads its .localcloud/outputs.json)"
        )
    outputs = stack_outputs(checkout / LOCAL_OUTPUTS)
    return Target(_api_url_of(outputs, local=True), outputs, checkout)


def _is_loopback(url: str) -> bool:
    return urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")


def stack_outputs(path: Path) -> dict[str, str]:
    """The image service stack's outputs in a ``cdk deploy --outputs-file`` file."""
    try:
        stacks = json.loads(path.read_text())
    except OSError as error:
        raise ConfigurationError(f"cannot read {path}: {error.strerror or error}") from error
    except ValueError as error:
        raise ConfigurationError(f"{path} is not a stack outputs file (not JSON)") from error
    if isinstance(stacks, dict):
        for name, outputs in stacks.items():
            if str(name).startswith(STACK_PREFIX) and isinstance(outputs, dict):
                return {str(key): str(value) for key, value in outputs.items()}
    raise ConfigurationError(f"{path} holds no {STACK_PREFIX}* stack")


def _is_local(outputs: dict[str, str]) -> bool:
    return (
        outputs.get("TokenIssuer") == DEV_ISSUER_NAME
        or ".execute-api.127.0.0.1" in outputs.get("ApiUrl", "")
        or "localhost.localstack.cloud" in outputs.get("ApiUrl", "")
    )


def _api_url_of(outputs: dict[str, str], *, local: bool) -> str:
    if not local:
        if "ApiUrl" not in outputs:
            raise ConfigurationError("the stack outputs name no ApiUrl")
        return outputs["ApiUrl"]
    try:
        api_id, stage = outputs["ApiId"], outputs["ApiStageName"]
    except KeyError as error:
        raise ConfigurationError(f"the local stack outputs name no {error.args[0]}") from error
    return f"http://127.0.0.1:{_local_port(outputs)}/_aws/execute-api/{api_id}/{stage}/"


def _local_port(outputs: dict[str, str]) -> int:
    if port := os.environ.get("LOCALCLOUD_PORT"):
        if not port.isdigit():
            raise ConfigurationError(f"LOCALCLOUD_PORT is not a port: {port!r}")
        return int(port)
    # LocalStack names its own port in the URL it reports (e.g. https://<id>.execute-api.127.0.0.1:4613/local/).
    named = urlsplit(outputs.get("ApiUrl", "")).port
    return named or DEFAULT_LOCALCLOUD_PORT


# --- the local development issuer ------------------------------------------------------------

_USER = re.compile(r"[A-Za-z0-9._@-]{1,128}")


def dev_token(target: Target, user: str, *, expires_in: int = 3600) -> str:
    """A token of the local cloud's development issuer for ``user`` (the local cloud only)."""
    if target.local_checkout is None:
        raise ConfigurationError(
            "tokens are minted for the local cloud only: sign in to this stack with `imgsvc login`"
        )
    if not _USER.fullmatch(user):
        raise ConfigurationError(f"not a user id: {user!r} (1-128 of A-Z a-z 0-9 . _ @ -)")
    issuer = target.local_checkout / DEV_ISSUER
    if not (issuer / "issuer.json").is_file():
        raise ConfigurationError(
            f"{issuer} holds no development issuer: run `make up` in {target.local_checkout}"
        )
    # The issuer is the project's own (localcloud/dev_issuer.py), run from its checkout with this
    # interpreter: the project's venv, which has PyJWT.
    result = subprocess.run(  # noqa: S603 (a fixed module of the project, arguments checked above)
        [
            sys.executable,
            "-m",
            "localcloud.dev_issuer",
            "--dir",
            str(issuer),
            "token",
            user,
            "--expires-in",
            str(expires_in),
        ],
        cwd=target.local_checkout,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        detail = (result.stderr.strip().splitlines() or ["no token printed"])[-1]
        raise ConfigurationError(f"the development issuer failed: {detail}")
    return lines[-1]
