"""Injected faults: S3 or DynamoDB failing at every single call of a delete and of processing.

Each sweep runs one operation again and again, on a fresh image each time, and makes its
1st, then 2nd, then 3rd... AWS call fail (either client, whatever the operation), until a run
makes fewer calls than the fault's position and so completes untouched. After each fault, the
repair the service documents runs (the same DELETE again; Lambda's retry of the event; the
on-failure destination; reconciliation), and the image must be whole or wholly gone:

* no record lost: an image the caller was not told is gone is still there, as it was;
* nothing orphaned: every original and variant belongs to an available record of its
  revision, no tag item outlives its image's listing, nothing stays in the quarantine;
* nothing half-done: no record left ``deleting``; and reconciliation, asked afterwards, finds
  nothing (``found == 0``).

The failures are botocore ``before-call`` hooks on the very clients the service uses, raising
the ``ClientError`` AWS answers after the SDK's own retries gave up.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from image_core import schema
from image_core.repository import ImageRepository
from image_core.storage import ImageStorage
from image_reconcile.reconciler import Reconciler, Report
from tests import images
from tests.unit.conftest import BUCKET_NAME, TABLE_NAME, Aws, UploadImage
from tests.unit.harness import ApiClient, FakeClock, deliver_object_created, deliver_processing_failure

# No operation here makes nearly this many AWS calls: a sweep that gets this far never ends.
MAX_FAULT_POSITION = 40
TAGS = ("cats", "garden")


@dataclass
class FaultAt:
    """Fails the ``position``-th AWS call the service makes (S3 and DynamoDB counted together)."""

    position: int
    calls: list[str] = field(default_factory=list)

    @property
    def fired(self) -> bool:
        return len(self.calls) >= self.position

    def __call__(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)
        if len(self.calls) == self.position:
            raise ClientError(
                {"Error": {"Code": "InternalError", "Message": "injected: we encountered an internal error"}},
                model.name,
            )


@contextmanager
def fault_at(aws: Aws, position: int) -> Iterator[FaultAt]:
    fault = FaultAt(position)
    hooks = ((aws.service_s3, "before-call.s3"), (aws.service_dynamodb, "before-call.dynamodb"))
    for client, event in hooks:
        client.meta.events.register_first(event, fault)
    try:
        yield fault
    finally:
        for client, event in hooks:
            client.meta.events.unregister(event, fault)


def crash_at(aws: Aws, position: int, action: Callable[[], None]) -> FaultAt:
    """Run ``action`` (a Lambda invocation) with the fault at ``position``; the invocation fails
    with the injected error exactly when the fault fired."""
    failure: ClientError | None = None
    with fault_at(aws, position) as fault:
        try:
            action()
        except ClientError as error:
            failure = error
    if fault.fired:
        assert failure is not None, f"the fault at {fault.calls[-1]} was swallowed"
        assert "injected" in str(failure)
    else:
        assert failure is None, failure
    return fault


@pytest.fixture
def clock(clock: FakeClock) -> FakeClock:
    # Records are made now, like the objects moto stamps with the real time, so reconciliation
    # (which compares them with its own clock) sees them as they are.
    clock.set(datetime.now(UTC))
    return clock


def reconcile(aws: Aws, *, repair: bool) -> Report:
    """Reconciliation as its schedule runs it, here with no minimum age: everything is old enough."""
    reconciler = Reconciler(
        repository=ImageRepository(aws.service_dynamodb, TABLE_NAME),
        storage=ImageStorage(aws.service_s3, BUCKET_NAME),
        clock=lambda: datetime.now(UTC) + timedelta(seconds=1),
    )
    return reconciler.run(repair=repair, min_age=timedelta(0))


def revision_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def settled_state(aws: Aws, image_id: str) -> str:
    """The image's status, after checking that the table and the bucket agree on it completely.

    ``gone``: no item and no object of it. Otherwise its record's status, with exactly the
    objects and tag items that status owns.
    """
    partition = schema.image_partition(image_id)
    items = [item for item in aws.table_items() if item[schema.PARTITION_KEY] == partition]
    objects = sorted(
        key
        for key in aws.object_keys()
        if key.startswith(
            (
                schema.incoming_object_key(image_id),
                schema.originals_prefix(image_id),
                schema.variants_prefix(image_id),
            )
        )
    )
    records = [item for item in items if item[schema.SORT_KEY] == schema.IMAGE_SORT_KEY]
    tag_items = sorted(item[schema.SORT_KEY] for item in items if item not in records)
    if not records:
        assert (tag_items, objects) == ([], []), f"{image_id}: no record, yet {tag_items} {objects}"
        return "gone"
    (record,) = records
    status = str(record["status"])
    assert status != "deleting", f"{image_id}: left deleting, with {objects}"
    if status == "available":
        assert objects == sorted(schema.revision_object_keys(image_id, record["revision"])), objects
        assert tag_items == sorted(schema.tag_sort_key(tag) for tag in record.get("tags", [])), tag_items
    elif status == "pending":
        assert objects in ([], [schema.incoming_object_key(image_id)]), objects
        assert tag_items == [], tag_items
    else:  # rejected or failed: its bytes were deleted with the outcome
        assert (tag_items, objects) == ([], []), f"{image_id} {status}: {tag_items} {objects}"
    return status


def assert_reconciliation_finds_nothing(aws: Aws) -> None:
    report = reconcile(aws, repair=False)
    assert report.found == 0, {name: check.findings for name, check in report.checks.items() if check.found}


def sweep(run_with_fault: Callable[[int], bool]) -> int:
    """Run ``run_with_fault(position)`` for positions 1, 2, ... until it reports the fault never
    fired; the number of faults injected."""
    for position in itertools.count(1):
        assert position <= MAX_FAULT_POSITION, "the operation never completed without reaching the fault"
        if not run_with_fault(position):
            return position - 1
    raise AssertionError("unreachable")


def post(aws: Aws, image_id: str, data: bytes) -> str:
    """The client's presigned POST: the bytes stored under the image's incoming key; their ETag."""
    return aws.put(schema.incoming_object_key(image_id), data, "image/jpeg")


# --- deletes --------------------------------------------------------------------------------------


def test_a_delete_failing_at_any_aws_call_is_finished_by_the_same_delete_again(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    def run(position: int) -> bool:
        # Given an available image with tags, and a re-upload of it waiting in the quarantine
        image_id = available_image(tags=TAGS)
        post(aws, image_id, images.jpeg(seed=position))
        # When its owner deletes it and S3 or DynamoDB fails at this call
        with fault_at(aws, position) as fault:
            answer = api.delete(image_id)
        if not fault.fired:
            assert answer.status_code == 204
            assert settled_state(aws, image_id) == "gone"
            return False
        # Then the owner is told it failed, and sees the image whole or not at all
        assert answer.status_code == 500, (fault.calls, answer.body)
        assert api.get(image_id).status_code in (200, 404)
        # And the same DELETE again finishes it: nothing of it is left
        assert api.delete(image_id).status_code == 204, fault.calls
        assert settled_state(aws, image_id) == "gone", fault.calls
        return True

    faults = sweep(run)

    assert faults >= 6  # read, hide, the upload, two listings, the objects, the record
    assert_reconciliation_finds_nothing(aws)


def test_a_delete_failing_at_any_aws_call_and_never_retried_is_finished_by_reconciliation(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    outcomes: dict[str, int] = {}

    def run(position: int) -> bool:
        image_id = available_image(tags=TAGS)
        with fault_at(aws, position) as fault:
            answer = api.delete(image_id)
        if not fault.fired:
            assert answer.status_code == 204
            return False
        assert answer.status_code == 500
        # When nobody retries, but reconciliation repairs what it finds
        reconcile(aws, repair=True)
        # Then the image is either untouched (the delete failed before hiding it: the owner was
        # told so, and it is still theirs) or gone entirely, never half-deleted
        state = settled_state(aws, image_id)
        assert state in ("available", "gone"), (fault.calls, state)
        outcomes[state] = outcomes.get(state, 0) + 1
        return True

    faults = sweep(run)

    assert faults >= 6
    # Faults before the hiding transaction leave it available; every one after, gone.
    assert outcomes.get("available", 0) >= 1, outcomes
    assert outcomes.get("gone", 0) >= 4, outcomes
    assert_reconciliation_finds_nothing(aws)


# --- processing -----------------------------------------------------------------------------------


def test_processing_failing_at_any_aws_call_is_finished_by_lambdas_retry(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    def run(position: int) -> bool:
        # Given an image whose bytes were just posted
        image_id = pending_image(tags=list(TAGS))
        data = images.jpeg(40, 30, seed=position)
        etag = post(aws, image_id, data)
        key = schema.incoming_object_key(image_id)
        # When processing fails at this call
        fault = crash_at(
            aws, position, lambda: deliver_object_created(BUCKET_NAME, key, len(data), etag=etag)
        )
        if not fault.fired:
            assert settled_state(aws, image_id) == "available"
            return False
        # Then Lambda's retry of the same event makes it available, with nothing left over
        deliver_object_created(BUCKET_NAME, key, len(data), etag=etag)
        assert settled_state(aws, image_id) == "available", fault.calls
        assert api.get(image_id).json()["sha256"] == revision_of(data)
        assert sorted(item["image_id"] for item in api.list(tag="cats").json()["items"]).count(image_id) == 1
        return True

    faults = sweep(run)

    assert faults >= 8  # read the record, the upload, duplicates; put variants, copy, record, clean up
    assert_reconciliation_finds_nothing(aws)


def test_a_re_upload_failing_at_any_aws_call_is_finished_by_lambdas_retry(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    def run(position: int) -> bool:
        # Given an available image whose owner posted new bytes
        image_id = available_image(tags=TAGS)
        data = images.jpeg(56, 40, seed=1000 + position)
        etag = post(aws, image_id, data)
        key = schema.incoming_object_key(image_id)
        fault = crash_at(
            aws, position, lambda: deliver_object_created(BUCKET_NAME, key, len(data), etag=etag)
        )
        if not fault.fired:
            assert settled_state(aws, image_id) == "available"
            return False
        # Until the retry, the image stays available (the old bytes or the new, never neither)
        assert api.get(image_id).json()["status"] == "available"
        deliver_object_created(BUCKET_NAME, key, len(data), etag=etag)
        # Then exactly the new bytes' original and variants remain
        assert settled_state(aws, image_id) == "available", fault.calls
        assert api.get(image_id).json()["sha256"] == revision_of(data)
        return True

    faults = sweep(run)

    assert faults >= 8
    assert_reconciliation_finds_nothing(aws)


def test_processing_failing_at_any_aws_call_then_for_good_leaves_a_failed_image_without_bytes(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    outcomes: dict[str, int] = {}

    def run(position: int) -> bool:
        image_id = pending_image(tags=list(TAGS))
        data = images.jpeg(40, 30, seed=2000 + position)
        etag = post(aws, image_id, data)
        key = schema.incoming_object_key(image_id)
        fault = crash_at(
            aws, position, lambda: deliver_object_created(BUCKET_NAME, key, len(data), etag=etag)
        )
        if not fault.fired:
            return False
        # When every retry failed too and Lambda hands the event to the on-failure destination
        deliver_processing_failure(BUCKET_NAME, key, len(data), etag=etag)
        # Then the image is failed with no bytes, or available if the crash came after recording
        # it (the destination then only finishes the clean-up); nothing is left either way
        state = settled_state(aws, image_id)
        assert state in ("failed", "available"), (fault.calls, state)
        outcomes[state] = outcomes.get(state, 0) + 1
        return True

    faults = sweep(run)

    assert faults >= 8
    assert outcomes.get("failed", 0) >= 1, outcomes
    assert outcomes.get("available", 0) >= 1, outcomes
    assert_reconciliation_finds_nothing(aws)


def test_the_failure_destination_failing_at_any_aws_call_is_finished_by_its_retry(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    def run(position: int) -> bool:
        # Given an upload whose processing failed for good, with a variant and the original
        # that an attempt stored before failing
        image_id = pending_image(tags=list(TAGS))
        data = images.jpeg(40, 30, seed=3000 + position)
        etag = post(aws, image_id, data)
        key = schema.incoming_object_key(image_id)
        revision = revision_of(data)
        aws.put(schema.original_object_key(image_id, revision), data, "image/jpeg")
        aws.put(
            schema.variant_object_key(image_id, revision, schema.Variant.THUMBNAIL), b"webp", "image/webp"
        )
        # When recording the failure fails at this call
        fault = crash_at(
            aws, position, lambda: deliver_processing_failure(BUCKET_NAME, key, len(data), etag=etag)
        )
        if not fault.fired:
            assert settled_state(aws, image_id) == "failed"
            return False
        # Then Lambda's retry of the destination records it: failed, and none of its bytes left
        deliver_processing_failure(BUCKET_NAME, key, len(data), etag=etag)
        assert settled_state(aws, image_id) == "failed", fault.calls
        return True

    faults = sweep(run)

    assert faults >= 5
    assert_reconciliation_finds_nothing(aws)
