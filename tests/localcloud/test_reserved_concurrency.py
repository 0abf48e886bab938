"""A function whose reserved concurrency is 0 is throttled: its events go, unrun, to the
on-failure destination and the dead-letter queue, as in Lambda; restored, it runs again.

Lambda hands such an event over at once (condition ``ZeroReservedConcurrency``, no attempt
counted) rather than retrying it for hours. The image service's fault test relies on this to
make processing fail for good without failing any code.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key

pytestmark = pytest.mark.localcloud

WAIT_SECONDS = 60


def _invoke_async(function_name: str, run: str) -> None:
    response = boto3.client("lambda").invoke(
        FunctionName=function_name,
        InvocationType="Event",
        Payload=json.dumps({"run": run, "behaviour": "succeed"}),
    )
    assert response["StatusCode"] == 202


def _messages_of(queue_url: str, run: str) -> Iterator[dict[str, Any]]:
    """The messages now in the queue that carry ``run``'s event (deleted as read), with their attributes."""
    sqs = boto3.client("sqs")
    while messages := sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=1,
        VisibilityTimeout=30,
        MessageAttributeNames=["All"],
    ).get("Messages", []):
        for message in messages:
            body = json.loads(message["Body"])
            # A destination record carries the event as requestPayload; a dead letter is the event.
            if body.get("requestPayload", body).get("run") == run:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                yield {"body": body, "attributes": message.get("MessageAttributes", {})}


def _attempts(table_name: str, run: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(table_name)
    items: list[dict[str, Any]] = table.query(
        KeyConditionExpression=Key("pk").eq(f"ATTEMPT#{run}"), ConsistentRead=True
    )["Items"]
    return items


def test_an_event_of_a_function_at_reserved_concurrency_0_is_handed_over_unrun_and_runs_once_restored(
    test_stack: dict[str, str],
) -> None:
    lambda_ = boto3.client("lambda")
    function = test_stack["AsyncRetry2Function"]
    throttled_run, restored_run = uuid.uuid4().hex, uuid.uuid4().hex
    destination: list[dict[str, Any]] = []
    dead_letters: list[dict[str, Any]] = []

    lambda_.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=0)
    try:
        # When an event is sent while the function may not run at all
        _invoke_async(function, throttled_run)
        deadline = time.monotonic() + WAIT_SECONDS
        while not (destination and dead_letters) and time.monotonic() < deadline:
            destination += _messages_of(test_stack["AsyncRetry2FailuresUrl"], throttled_run)
            dead_letters += _messages_of(test_stack["AsyncDeadLettersUrl"], throttled_run)
    finally:
        lambda_.delete_function_concurrency(FunctionName=function)

    # Then it reached the destination as throttled, after no attempt
    assert len(destination) == 1, destination
    context = destination[0]["body"]["requestContext"]
    assert (context["condition"], context["approximateInvokeCount"]) == ("ZeroReservedConcurrency", 0)
    assert "responsePayload" not in destination[0]["body"]
    # And the dead-letter queue, the event itself, saying why
    assert len(dead_letters) == 1, dead_letters
    assert dead_letters[0]["body"] == {"run": throttled_run, "behaviour": "succeed"}
    assert "not invoked" in dead_letters[0]["attributes"]["ErrorMessage"]["StringValue"]
    assert _attempts(test_stack["TableName"], throttled_run) == []

    # When its concurrency is restored, the next event runs
    assert "ReservedConcurrentExecutions" not in lambda_.get_function_concurrency(FunctionName=function)
    _invoke_async(function, restored_run)
    deadline = time.monotonic() + WAIT_SECONDS
    while not _attempts(test_stack["TableName"], restored_run) and time.monotonic() < deadline:
        time.sleep(1)
    assert len(_attempts(test_stack["TableName"], restored_run)) == 1
    # And the throttled event was handed over once, never run later
    assert _attempts(test_stack["TableName"], throttled_run) == []
