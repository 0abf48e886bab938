"""CDK app: ``cdk synth -c stage=local|dev|prod [-c cors_origins=https://a.example,https://b.example]``.

``-c processing_fault_tag=<tag>`` replaces the tag that makes processing fail on purpose;
only test stages accept one (the local stage has one by default).
``-c processing_reserved_concurrency=<n>`` reserves (and caps) the processing function's
concurrency; no stage reserves any by default.

Who may call the API (``-c`` context, all optional):

* ``auth_mode=jwt|none``: verify bearer tokens (the default), or trust a ``user_id``
  parameter (demos; refused for prod);
* ``auth_issuer=... auth_audience=a,b auth_jwks_url=... [auth_identity_claim=sub]``: accept
  tokens of that OpenID Connect provider instead of a Cognito user pool the stack creates;
* ``dev_issuer=.localcloud/dev-issuer/issuer.json``: the local development issuer, whose
  public keys go to the functions inline (``make up`` passes it; ``localcloud/dev_issuer.py``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent

# The stacks import the table layout from lambda_src/image_core/schema.py, the module the
# functions use; lambda_src is the functions' asset root, so it goes on the path as it is
# on theirs (pytest and mypy do the same through pyproject.toml).
sys.path.insert(0, str(PROJECT_ROOT / "lambda_src"))

from aws_cdk import App, Validations  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from image_core.environment import AuthMode  # noqa: E402
from stacks.image_service_stack import ImageServiceStack  # noqa: E402
from stacks.settings import Authentication, TokenIssuer, stage_settings  # noqa: E402

DEFAULT_STAGE = "local"


def cdk_json_context() -> dict[str, Any]:
    """cdk.json's context (the feature flags), which only the CDK CLI passes to the app by itself.

    Given to ``App(context=...)`` as defaults, so that ``python app.py`` and the tests synthesize
    with the same flags as ``cdk synth``; context from the CLI still takes precedence.
    """
    context: dict[str, Any] = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    return context


def _origins(value: object) -> list[str] | None:
    """``-c cors_origins=a,b`` arrives as a string; cdk.json may hold a list (so may ``auth_audience``)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    return [str(item).strip() for item in items if str(item).strip()]


def _positive_int(app: App, name: str) -> int | None:
    """A whole-number context value (``-c name=50`` arrives as a string), or None when not given."""
    value = app.node.try_get_context(name)
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {value!r}") from None


def _authentication(app: App) -> Authentication:
    """``auth_mode``, and the token issuer named by ``dev_issuer`` or the ``auth_*`` values."""
    context = app.node.try_get_context
    mode_name = str(context("auth_mode") or AuthMode.JWT.value)
    try:
        mode = AuthMode(mode_name)
    except ValueError:
        raise ValueError(f"unknown auth_mode {mode_name!r}; choose jwt or none") from None
    dev_issuer, external_issuer = context("dev_issuer"), context("auth_issuer")
    if dev_issuer and external_issuer:
        raise ValueError("give either dev_issuer or auth_issuer, not both")
    issuer: TokenIssuer | None = None
    if dev_issuer:
        issuer = _dev_issuer(Path(str(dev_issuer)))
    elif external_issuer:
        issuer = TokenIssuer(
            issuer=str(external_issuer),
            audiences=tuple(_origins(context("auth_audience")) or ()),
            jwks_url=str(context("auth_jwks_url") or ""),
            identity_claim=str(context("auth_identity_claim") or "sub"),
        )
    return Authentication(mode=mode, token_issuer=issuer)


def _dev_issuer(path: Path) -> TokenIssuer:
    """The local development issuer as its ``issuer.json`` describes it (issuer, audience, public JWKS)."""
    path = path if path.is_absolute() else PROJECT_ROOT / path
    if not path.is_file():
        raise ValueError(f"{path} does not exist: create the development issuer with `make dev-issuer`")
    described = json.loads(path.read_text())
    return TokenIssuer(
        issuer=described["issuer"], audiences=(described["audience"],), jwks=json.dumps(described["jwks"])
    )


def build(app: App) -> ImageServiceStack:
    """Adds the stage chosen by the app's context; the only place that reads context."""
    settings = stage_settings(
        str(app.node.try_get_context("stage") or DEFAULT_STAGE),
        cors_origins=_origins(app.node.try_get_context("cors_origins")),
        s3_public_endpoint=app.node.try_get_context("s3_public_endpoint"),
        processing_fault_tag=app.node.try_get_context("processing_fault_tag"),
        processing_reserved_concurrency=_positive_int(app, "processing_reserved_concurrency"),
        authentication=_authentication(app),
    )
    stack = ImageServiceStack(app, settings.stack_name, settings=settings)
    # Every finding is an error at synth unless acknowledged, with its reason, next to its cause.
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return stack


def main() -> None:
    app = App(context=cdk_json_context())
    try:
        build(app)
    except ValueError as error:
        sys.exit(f"app.py: {error}")
    app.synth()


if __name__ == "__main__":
    main()
