"""Fixtures that start the local cloud and deploy the test stack with cdklocal.

Nothing here is mocked: the tests talk to LocalStack on 127.0.0.1 through boto3 and HTTP.
The AWS endpoint settings come from ``localcloud/env.mk`` (``make test-localcloud``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
STACK_APP = Path(__file__).parent / "stack" / "app.py"
STACK_NAME = "LocalCloudTestStack"
CDKLOCAL = ROOT / "node_modules" / ".bin" / "cdklocal"


def _cdklocal(*args: str, cwd: Path) -> None:
    command = [
        str(CDKLOCAL),
        *args,
        "--app",
        f"{sys.executable} {STACK_APP}",
        "--output",
        str(cwd / "cdk.out"),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, (
        f"cdklocal {args[0]} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )


@pytest.fixture(scope="session")
def local_cloud() -> str:
    """The local cloud's endpoint, started (or reused) the way `make localcloud-start` does."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    assert endpoint.startswith("http://127.0.0.1:"), (
        "AWS_ENDPOINT_URL does not point at the local cloud: run these tests with `make test-localcloud`"
    )
    subprocess.run([sys.executable, str(ROOT / "localcloud" / "cli.py"), "start"], check=True)
    return endpoint


@pytest.fixture(scope="session")
def test_stack(local_cloud: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Deploys the test stack; destroys it afterwards and checks that nothing is left."""
    workdir = tmp_path_factory.mktemp("localcloud-stack")
    outputs_file = workdir / "outputs.json"
    _cdklocal("bootstrap", "aws://000000000000/us-east-1", cwd=workdir)
    _cdklocal(
        "deploy", STACK_NAME, "--require-approval", "never", "--outputs-file", str(outputs_file), cwd=workdir
    )
    outputs: dict[str, str] = json.loads(outputs_file.read_text())[STACK_NAME]
    yield outputs

    # Destroying proves CDK's auto-delete-objects custom resource (Node.js) emptied the
    # bucket: CloudFormation cannot delete a bucket that still holds objects.
    _cdklocal("destroy", STACK_NAME, "--force", cwd=workdir)
    stacks = boto3.client("cloudformation").list_stacks()["StackSummaries"]
    live = [s for s in stacks if s["StackName"] == STACK_NAME and s["StackStatus"] != "DELETE_COMPLETE"]
    assert live == [], f"stack still present after destroy: {live}"
    buckets = [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]
    assert outputs["BucketName"] not in buckets


@pytest.fixture(scope="session")
def api_url(test_stack: dict[str, str], local_cloud: str) -> str:
    return f"{local_cloud}/_aws/execute-api/{test_stack['ApiId']}/{test_stack['ApiStage']}"


def invoke(function_name: str, payload: dict[str, Any]) -> tuple[str | None, Any]:
    """Invoke a function synchronously; (FunctionError or None, decoded payload)."""
    response = boto3.client("lambda").invoke(FunctionName=function_name, Payload=json.dumps(payload))
    return response.get("FunctionError"), json.loads(response["Payload"].read() or b"null")
