"""A bare handler that imports only boto3: the floor of a cold start for a function that talks to AWS."""

import json
from typing import Any

import boto3  # noqa: F401 (imported for its cost: what every function of ours pays at least)


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:  # noqa: ARG001 (the smallest handler)
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"path": event.get("path")}),
    }
