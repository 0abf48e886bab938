"""The test stack's Python function: one handler, several behaviours chosen by the caller."""

import json
import os
import signal
import subprocess
import time

import boto3

TABLE_NAME = os.environ["TABLE_NAME"]
BUCKET_NAME = os.environ["BUCKET_NAME"]


def api(event, context):
    """Behind API Gateway: answers with what the caller asked it to show."""
    params = event.get("queryStringParameters") or {}
    action = params.get("action", "echo")
    if action == "presign":
        s3 = boto3.client(
            "s3", config=boto3.session.Config(signature_version="s3v4", s3={"addressing_style": "path"})
        )
        url = s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": BUCKET_NAME, "Key": params["key"]},
            ExpiresIn=int(params.get("expires", "60")),
        )
        return _json(200, {"url": url})
    return _json(200, {"runtime": "python", "path": event.get("path"), "pid": os.getpid()})


def direct(event, context):
    """Invoked directly by the tests."""
    if "print" in event:
        print(event["print"])
    if "sleep" in event:
        time.sleep(event["sleep"])
    if "raise" in event:
        raise RuntimeError(event["raise"])
    return {"pid": os.getpid(), "remaining_ms": context.get_remaining_time_in_millis()}


def on_object_created(event, context):
    """S3 notification: record each created object in the table."""
    table = boto3.resource("dynamodb").Table(TABLE_NAME)
    for record in event["Records"]:
        table.put_item(
            Item={
                "pk": f"OBJECT#{record['s3']['object']['key']}",
                "sk": "CREATED",
                "size": record["s3"]["object"].get("size", 0),
            }
        )


def async_attempt(event, context):
    """Invoked asynchronously by the retry tests: records this attempt, then does as the event says.

    Each attempt writes when it started and until when it can run at most: its deadline (the
    local cloud kills it there), or for a crash the moment just before it. It also starts a
    child process, which must not outlive the attempt.
    """
    table = boto3.resource("dynamodb").Table(TABLE_NAME)
    started_ms = int(time.time() * 1000)
    child = subprocess.Popen(["sleep", "900"])
    attempt = {
        "pk": f"ATTEMPT#{event['run']}",
        "sk": f"{started_ms}#{os.getpid()}",
        "started_ms": started_ms,
        "ends_by_ms": started_ms + context.get_remaining_time_in_millis(),
        "pid": os.getpid(),
        "child_pid": child.pid,
        "request_id": context.aws_request_id,
    }
    behaviour = event["behaviour"]
    if behaviour == "succeed":
        child.kill()
        child.wait()
        table.put_item(Item={**attempt, "ends_by_ms": int(time.time() * 1000)})
        return {"pid": os.getpid()}
    if behaviour == "time_out":
        table.put_item(Item=attempt)
        time.sleep(context.get_remaining_time_in_millis() / 1000 + 60)
        raise RuntimeError("still running a minute past the deadline: the local cloud did not stop it")
    if behaviour not in ("exit", "kill"):
        raise ValueError(f"unknown behaviour {behaviour!r}")
    # A crash: the process ends here without an answer, leaving its child behind.
    table.put_item(Item={**attempt, "ends_by_ms": int(time.time() * 1000)})
    if behaviour == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    os._exit(3)


def _json(status, body):
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
