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


def api_url(outputs: dict[str, str]) -> str:
    port = os.environ.get("LOCALCLOUD_PORT", "4566")
    return f"http://127.0.0.1:{port}/_aws/execute-api/{outputs['ApiId']}/{outputs['ApiStageName']}/"


WALKTHROUGH = """\
The image service is deployed on the local cloud.

API: {url}

Try it (the upload answer carries a presigned POST; the bytes go straight to S3):
  curl -s -X POST '{url}images/upload?user_id=alice&tags=cat,holiday&content_type=image/png'
  # then, with the "url" and "fields" from that answer:
  #   curl -s -X POST "$UPLOAD_URL" -F key=... -F Content-Type=image/png -F ... -F file=@cat.png
  curl -s '{url}images?user_id=alice'
  curl -s '{url}images?tag=cat&from=2026-01-01'
  curl -s '{url}images/<image_id>'
  curl -s '{url}images/<image_id>/download'
  curl -s -X DELETE '{url}images/<image_id>'

make url    prints the API URL again
make down   stops the local cloud
"""


def main() -> None:
    command, path = sys.argv[1], Path(sys.argv[2])
    outputs = stack_outputs(path)
    if command == "url":
        print(api_url(outputs))
    elif command == "walkthrough":
        print(WALKTHROUGH.format(url=api_url(outputs)))
    else:
        raise SystemExit(f"unknown command {command!r}: use url or walkthrough")


if __name__ == "__main__":
    main()
