"""The test stack's Python function: one handler, several behaviours chosen by the caller."""

import json
import os
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


def _json(status, body):
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
