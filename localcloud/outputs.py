"""The deployed stack's outputs, as `make up`, `make url` and the integration tests need them.

    python -m localcloud.outputs url .localcloud/outputs.json
    python -m localcloud.outputs walkthrough .localcloud/outputs.json

The API URL that LocalStack puts in the stack outputs names
``<id>.execute-api.localhost.localstack.cloud``, which needs public DNS; the same API
answers on loopback under ``/_aws/execute-api/<id>/<stage>/``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

STACK_PREFIX = "ImageService-"


def stack_outputs(path: Path) -> dict[str, str]:
    """The image service stack's outputs from a `cdk deploy --outputs-file` file."""
    if not path.exists():
        raise SystemExit(f"{path} does not exist: deploy first with `make up`")
    stacks: dict[str, dict[str, str]] = json.loads(path.read_text())
    for name, outputs in stacks.items():
        if name.startswith(STACK_PREFIX):
            return outputs
    raise SystemExit(f"{path} holds no {STACK_PREFIX}* stack")


def localcloud_port() -> int:
    return int(os.environ.get("LOCALCLOUD_PORT", "4566"))


def api_url(outputs: dict[str, str]) -> str:
    port = localcloud_port()
    return f"http://127.0.0.1:{port}/_aws/execute-api/{outputs['ApiId']}/{outputs['ApiStageName']}/"


GALLERY_HOST = "127.0.0.1"
# The gallery server's port is the local cloud's plus this (localcloud/gallery.py), so that
# checkouts running their local clouds side by side do not collide.
GALLERY_PORT_OFFSET = 1000


def gallery_port() -> int:
    return int(os.environ.get("GALLERY_PORT") or localcloud_port() + GALLERY_PORT_OFFSET)


def gallery_url(port: int | None = None) -> str:
    return f"http://{GALLERY_HOST}:{port or gallery_port()}/"


README = Path(__file__).resolve().parent.parent / "README.md"
WALKTHROUGH_BLOCK = re.compile(r"<!-- walkthrough:start -->\s*```sh\n(?P<script>.*?)```", re.DOTALL)


def walkthrough(url: str) -> str:
    """The README's walkthrough (tested, so it is what works), after the API URL."""
    match = WALKTHROUGH_BLOCK.search(README.read_text())
    steps = match.group("script") if match else "See README.md.\n"
    return (
        f"The image service is deployed on the local cloud.\n\nAPI:     {url}\n"
        f"Gallery: {gallery_url()}  (open it in a browser; sign in as any user name)\n\n"
        f"Try it from the project's root (README.md, 'Walkthrough'):\n\n{steps}\n"
        "Or with the command-line client (README.md, 'imgsvc'):\n\n"
        "source .venv/bin/activate\nexport IMGSVC_TOKEN=$(imgsvc token --user alice)\n"
        "imgsvc upload --tags cat cat.png && imgsvc ls --tag cat\n\n"
        "make url    prints the API URL again\nmake gallery-url  the gallery's\n"
        "make down   stops the gallery and the local cloud"
    )


def main() -> None:
    command, path = sys.argv[1], Path(sys.argv[2])
    outputs = stack_outputs(path)
    if command == "url":
        print(api_url(outputs))
    elif command == "walkthrough":
        print(walkthrough(api_url(outputs)))
    else:
        raise SystemExit(f"unknown command {command!r}: use url or walkthrough")


if __name__ == "__main__":
    main()
