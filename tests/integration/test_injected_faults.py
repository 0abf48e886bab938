"""A fault injected on the local cloud: processing may not run at all while an upload arrives.

The processing function's reserved concurrency is set to 0 for the test (and restored in a
``finally``): Lambda then throttles every invocation, and hands the upload's S3 event, never
run, to the on-failure destination (condition ``ZeroReservedConcurrency``) and to the
dead-letter queue. (IAM is not enforced on the local cloud, so withdrawing a permission would
prove nothing; a throttle is a fault the local cloud does enforce.)

What the README documents for an upload that failed for good, and what this proves: the image
is ``failed`` (``processing_failed``), none of its bytes are left, its event waits in the
dead-letter queue; reconciliation finds nothing of it to repair (nothing orphaned); and once
processing may run again, its owner posting the same bytes again through the same presigned
POST makes it ``available``, with exactly its original and variants and nothing incoming.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from image_core import schema
from localcloud.reconcile import reconcile
from tests.integration.conftest import (
    Backend,
    ImageApi,
    png_bytes,
    request_upload,
    send_bytes,
    wait_for,
    wait_until_available,
)

pytestmark = pytest.mark.integration

# The failure destination runs at once for a throttled event; allow for its cold start.
FAILURE_TIMEOUT = 60.0


def _dead_letter_queue_url(function_name: str) -> str:
    configuration = boto3.client("lambda").get_function_configuration(FunctionName=function_name)
    queue_name = configuration["DeadLetterConfig"]["TargetArn"].rsplit(":", 1)[-1]
    return boto3.client("sqs").get_queue_url(QueueName=queue_name)["QueueUrl"]


def _dead_letters(queue_url: str) -> Iterator[tuple[dict[str, Any], dict[str, Any], str]]:
    """(S3 event, message attributes, receipt handle) of each message in the queue, until it seems empty."""
    sqs = boto3.client("sqs")
    while messages := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
    ).get("Messages", []):
        for message in messages:
            yield json.loads(message["Body"]), message.get("MessageAttributes", {}), message["ReceiptHandle"]


def _findings_of(report: dict[str, Any], image_id: str) -> list[str]:
    return [
        name
        for name, check in report["checks"].items()
        for finding in check["findings"]
        if finding["image_id"] == image_id
    ]


def test_an_upload_that_processing_may_not_run_for_ends_failed_in_the_dead_letter_queue_and_recovers(
    api: ImageApi, backend: Backend, user: str, outputs: dict[str, str]
) -> None:
    lambda_ = boto3.client("lambda")
    processing = outputs["ProcessingFunctionName"]
    queue_url = _dead_letter_queue_url(processing)
    before = lambda_.get_function_concurrency(FunctionName=processing).get("ReservedConcurrentExecutions")
    data = png_bytes(seed=1515)
    key = None

    lambda_.put_function_concurrency(FunctionName=processing, ReservedConcurrentExecutions=0)
    try:
        # Given processing that may not run, when an upload arrives
        grant = request_upload(api, user, ["fault"])
        key = schema.incoming_object_key(grant.image_id)
        send_bytes(grant, data, "image/png")

        # Then the failure destination marks it failed, and deletes its bytes
        def failed() -> dict[str, Any] | None:
            image: dict[str, Any] = api.get(grant.image_id).json()
            return image if image["status"] == "failed" else None

        image = wait_for(failed, timeout=FAILURE_TIMEOUT, interval=1.0, what="image failed")
        assert image["reason"] == "processing_failed"
        wait_for(lambda: backend.stored_keys(grant.image_id) == [], what="the failed upload's bytes deleted")
        assert backend.image_items(grant.image_id)[0][schema.SORT_KEY]["S"] == schema.IMAGE_SORT_KEY
        assert len(backend.image_items(grant.image_id)) == 1  # no tag item: it was never listed
    finally:
        if before is None:
            lambda_.delete_function_concurrency(FunctionName=processing)
        else:
            lambda_.put_function_concurrency(FunctionName=processing, ReservedConcurrentExecutions=before)

    # And its S3 event waits in the dead-letter queue, saying it was never run (taken out here)
    sqs = boto3.client("sqs")

    def parked() -> str | None:
        for event, attributes, receipt in _dead_letters(queue_url):
            if any(record["s3"]["object"]["key"] == key for record in event.get("Records", [])):
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt)
                return str(attributes.get("ErrorMessage", {}).get("StringValue"))
        return None

    error_message = wait_for(
        parked, timeout=FAILURE_TIMEOUT, interval=1.0, what="event in the dead-letter queue"
    )
    assert "not invoked" in error_message

    # When processing may run again, reconciliation finds nothing of the image to repair
    assert (
        lambda_.get_function_concurrency(FunctionName=processing).get("ReservedConcurrentExecutions")
        == before
    )
    report = reconcile(outputs["ReconcileFunctionName"], repair=True, min_age=None)
    assert _findings_of(report, grant.image_id) == []

    # And the owner posting the same bytes again makes it available, with nothing orphaned
    send_bytes(grant, data, "image/png")
    available = wait_until_available(api, grant.image_id, timeout=FAILURE_TIMEOUT)
    assert available["reason"] is None
    expected = sorted(schema.revision_object_keys(grant.image_id, available["sha256"]))
    # The upload is deleted last, just after the record is written.
    wait_for(
        lambda: backend.stored_keys(grant.image_id) == expected, what="exactly its original and variants"
    )
    assert api.listed_ids({"tag": "fault"}) == [grant.image_id]
