"""The floor of every API route: a bare Python function behind the same REST API machinery.

It imports nothing beyond the standard library and answers every request with a small JSON
body, so a request to it costs what API Gateway, the Lambda service and the runtime cost,
and nothing of ours.
"""

import json
from typing import Any


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:  # noqa: ARG001 (the smallest handler)
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"path": event.get("path")}),
    }
