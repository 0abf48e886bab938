"""Reconciliation on the local cloud: the deployed function (``make reconcile``) finds what failures
and hands behind the service's back left, repairs it when asked, and leaves uploads in flight alone.

The local stage's minimum age is 20 s: debris is made first, the test waits until the function
reports it (so it is old enough), and only then makes the fresh upload that must be left alone.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from image_core import schema
from localcloud.reconcile import reconcile
from tests.integration.conftest import (
    Backend,
    ImageApi,
    assert_error,
    png_bytes,
    unique_tag,
    upload_image,
    wait_for,
    wait_until_available,
)

pytestmark = pytest.mark.integration

MIN_AGE_SECONDS = 20


def findings_of(report: dict[str, Any], *image_ids: str) -> dict[str, list[str]]:
    """check -> which of these images it found."""
    found: dict[str, list[str]] = {}
    for name, check in report["checks"].items():
        for finding in check["findings"]:
            if finding["image_id"] in image_ids:
                found.setdefault(name, []).append(finding["image_id"])
    return {name: sorted(ids) for name, ids in found.items()}


def image_item(backend: Backend, image_id: str) -> dict[str, Any] | None:
    items = [
        item for item in backend.image_items(image_id) if item[schema.SORT_KEY]["S"] == schema.IMAGE_SORT_KEY
    ]
    return items[0] if items else None


def test_debris_is_reported_then_repaired_while_a_fresh_upload_is_left_alone(
    api: ImageApi, backend: Backend, user: str, outputs: dict[str, str]
) -> None:
    function = outputs["ReconcileFunctionName"]
    tag = unique_tag("reconcile")
    # Given a record forced into deleting (a DELETE that stopped half-way) ...
    stuck = upload_image(api, user, [tag], "image/png", png_bytes())
    wait_until_available(api, stuck)
    backend.dynamodb.update_item(
        TableName=backend.table,
        Key={
            schema.PARTITION_KEY: {"S": schema.image_partition(stuck)},
            schema.SORT_KEY: {"S": schema.IMAGE_SORT_KEY},
        },
        UpdateExpression="SET #status = :deleting",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":deleting": {"S": "deleting"}},
    )
    # ... an available image whose original was removed behind the service's back ...
    lost = upload_image(api, user, [tag], "image/png", png_bytes())
    wait_until_available(api, lost)
    backend.s3.delete_object(Bucket=backend.bucket, Key=backend.original_key(lost))
    # ... and variants of an image nobody ever registered.
    nobody = uuid.uuid4().hex
    stray = schema.variant_object_key(nobody, "ab" * 32, schema.Variant.THUMBNAIL)
    backend.s3.put_object(Bucket=backend.bucket, Key=stray, Body=b"stray")
    debris = (stuck, lost, nobody)
    expected = {"stuck_deleting": [stuck], "missing_original": [lost], "variant_without_image": [nobody]}

    # When they are old enough, reconciliation reports them (and changes nothing) ...
    reported = wait_for(
        lambda: (
            (report := reconcile(function, repair=False, min_age=None))
            and findings_of(report, *debris) == expected
            and report
        ),
        timeout=MIN_AGE_SECONDS + 40,
        interval=2,
        what="the debris reported",
    )
    assert reported["min_age_seconds"] == MIN_AGE_SECONDS
    assert backend.object_exists(stray)
    assert image_item(backend, stuck) is not None

    # ... while an upload made now is in flight, and a run in progress has just stored an original.
    fresh = upload_image(api, user, [tag], "image/png", png_bytes())
    in_progress = schema.original_object_key(uuid.uuid4().hex, "cd" * 32)
    backend.s3.put_object(Bucket=backend.bucket, Key=in_progress, Body=b"a run writes its original first")
    try:
        repaired = reconcile(function, repair=True, min_age=None)

        # Then the debris is repaired ...
        assert findings_of(repaired, *debris) == expected
        assert image_item(backend, stuck) is None
        assert backend.stored_keys(stuck) == []
        lost_item = image_item(backend, lost)
        assert lost_item is not None
        assert (lost_item["status"]["S"], lost_item["reason"]["S"]) == ("failed", "original_missing")
        assert backend.stored_keys(lost) == []
        assert set(api.listed_ids({"tag": tag})).isdisjoint({stuck, lost})
        assert_error(api.download(lost), 409, "conflict")
        assert not backend.object_exists(stray)
        # ... and what is younger than the minimum age is left alone.
        assert findings_of(repaired, fresh, in_progress.split("/")[1]) == {}
        assert backend.object_exists(in_progress)
        image = wait_until_available(api, fresh)
        assert image["status"] == "available"
        assert backend.object_exists(backend.original_key(fresh))
        assert api.listed_ids({"tag": tag}) == [fresh]

        # And running it again finds none of it: repairs are done once.
        again = reconcile(function, repair=True, min_age=None)
        assert findings_of(again, *debris) == {}
    finally:
        backend.s3.delete_object(Bucket=backend.bucket, Key=in_progress)
