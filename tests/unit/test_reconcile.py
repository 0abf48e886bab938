"""Reconciliation against moto: each check finds its debris, repairs it when asked, and leaves
alone what is younger than the minimum age or still referenced.

Objects get moto's real LastModified, so the reconciler's clock is set relative to real time:
``later`` is well past the minimum age of everything the test made, ``soon`` is not.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from image_api.identity import Caller
from image_api.use_cases import ImageService
from image_core import schema
from image_core.repository import ImageRepository
from image_core.settings import get_settings
from image_core.storage import ImageStorage
from image_reconcile import dependencies as reconcile_dependencies
from image_reconcile import handler as reconcile_handler
from image_reconcile.reconciler import Limits, Reconciler, Report
from image_reconcile.settings import get_reconcile_settings
from tests.unit.conftest import BUCKET_NAME, TABLE_NAME, Aws, UploadImage
from tests.unit.harness import FakeClock, lambda_context

MIN_AGE = timedelta(hours=6)
OTHER_ID = "0123456789abcdef0123456789abcdef"
REVISION = "ab" * 32


def invocation_context() -> LambdaContext:
    """A Lambda context with a whole 15 minutes left (the harness's says none)."""
    context = lambda_context()
    context.get_remaining_time_in_millis = lambda: 900_000  # type: ignore[method-assign]
    return context


def later() -> datetime:
    return datetime.now(UTC) + MIN_AGE + timedelta(minutes=1)


def soon() -> datetime:
    return datetime.now(UTC) + MIN_AGE - timedelta(minutes=5)


@pytest.fixture
def clock(clock: FakeClock) -> FakeClock:
    # The service's records are made now, like the objects moto stamps with the real time.
    clock.set(datetime.now(UTC))
    return clock


def reconciler(aws: Aws, at: datetime, limits: Limits | None = None) -> Reconciler:
    return Reconciler(
        repository=ImageRepository(aws.service_dynamodb, TABLE_NAME, get_settings().listing_layout),
        storage=ImageStorage(aws.service_s3, BUCKET_NAME),
        clock=lambda: at,
        limits=limits or Limits(),
    )


def reconcile(
    aws: Aws,
    *,
    repair: bool,
    at: datetime | None = None,
    limits: Limits | None = None,
    min_age: timedelta = MIN_AGE,
) -> Report:
    return reconciler(aws, at or later(), limits).run(repair=repair, min_age=min_age)


def found(report: Report) -> dict[str, list[str]]:
    """check -> the image ids it found, for the checks that found something."""
    return {
        name: sorted(finding.image_id for finding in check.findings)
        for name, check in report.checks.items()
        if check.found
    }


def status_of(aws: Aws, image_id: str) -> str | None:
    item = aws.item(image_id)
    return None if item is None else str(item["status"])


def test_given_a_delete_that_failed_part_way_when_reconciled_then_it_is_reported_and_finished_on_repair(
    aws: Aws, available_image: UploadImage, service: ImageService, monkeypatch: pytest.MonkeyPatch
) -> None:
    image_id = available_image(tags=["cat"])
    caller = Caller.named("alice")

    def lost_connection(*_: Any, **__: Any) -> None:
        raise ConnectionError("the bucket could not be reached")

    with monkeypatch.context() as patch:
        patch.setattr(ImageStorage, "delete_image_objects", lost_connection)
        with pytest.raises(ConnectionError):
            service.delete_image(image_id, caller)
    assert status_of(aws, image_id) == "deleting"
    assert aws.original_keys(image_id)

    reported = reconcile(aws, repair=False)
    assert found(reported) == {"stuck_deleting": [image_id]}
    assert status_of(aws, image_id) == "deleting"

    repaired = reconcile(aws, repair=True)
    assert repaired.checks["stuck_deleting"].repaired == 1
    assert aws.item(image_id) is None
    assert aws.object_keys() == []
    assert found(reconcile(aws, repair=True)) == {}


def test_given_a_record_forced_into_deleting_with_its_tags_when_repaired_then_its_tag_items_go_too(
    aws: Aws, available_image: UploadImage
) -> None:
    image_id = available_image(tags=["cat", "dog"])
    aws.mark_deleting(image_id)  # the status only: its tag items stay, unlike a DELETE's hiding

    reconcile(aws, repair=True)

    assert [
        item for item in aws.table_items() if item[schema.PARTITION_KEY] == schema.image_partition(image_id)
    ] == []


def test_given_a_record_forced_into_deleting_when_it_is_younger_than_the_minimum_age_then_it_is_left_alone(
    aws: Aws, available_image: UploadImage
) -> None:
    image_id = available_image()
    aws.mark_deleting(image_id)

    report = reconcile(aws, repair=True, at=soon())

    assert found(report) == {}
    assert status_of(aws, image_id) == "deleting"


def test_given_an_available_image_whose_original_was_removed_when_repaired_then_it_is_failed_and_unlisted(
    aws: Aws, available_image: UploadImage
) -> None:
    image_id = available_image(tags=["cat"])
    (original,) = aws.original_keys(image_id)
    aws.s3.delete_object(Bucket=BUCKET_NAME, Key=original)

    assert found(reconcile(aws, repair=False)) == {"missing_original": [image_id]}
    reconcile(aws, repair=True)

    item = aws.item(image_id)
    assert item is not None
    assert (item["status"], item["reason"]) == ("failed", "original_missing")
    assert schema.BY_USER.partition_key not in item
    assert schema.LISTED_AT not in item
    assert aws.item(image_id, schema.tag_sort_key("cat")) is None
    assert aws.variant_keys(image_id) == []
    assert found(reconcile(aws, repair=True)) == {}


def test_given_originals_and_variants_of_no_record_when_repaired_then_they_are_deleted(aws: Aws) -> None:
    original = schema.original_object_key(OTHER_ID, REVISION)
    variant = schema.variant_object_key(OTHER_ID, REVISION, schema.Variant.THUMBNAIL)
    aws.put(original, b"bytes")
    aws.put(variant, b"bytes")

    report = reconcile(aws, repair=True)

    assert found(report) == {"original_without_record": [OTHER_ID], "variant_without_image": [OTHER_ID]}
    assert aws.object_keys() == []


def test_given_an_upload_without_a_record_when_repaired_then_it_is_deleted_but_a_pending_ones_is_kept(
    aws: Aws, pending_image: UploadImage
) -> None:
    image_id = pending_image()
    aws.put(schema.incoming_object_key(image_id), b"not processed yet")
    aws.put(schema.incoming_object_key(OTHER_ID), b"nobody's")

    # Old enough, but the pending record has not expired yet: its upload is still awaited.
    report = reconcile(
        aws, repair=True, at=datetime.now(UTC) + timedelta(minutes=2), min_age=timedelta(minutes=1)
    )

    assert found(report) == {"upload_without_record": [OTHER_ID]}
    assert aws.object_keys() == [schema.incoming_object_key(image_id)]


def test_given_a_replaced_revision_left_behind_when_repaired_then_only_the_current_one_stays(
    aws: Aws, available_image: UploadImage
) -> None:
    image_id = available_image()
    current = sorted(aws.original_keys(image_id) + aws.variant_keys(image_id))
    stale = [
        schema.original_object_key(image_id, REVISION),
        schema.variant_object_key(image_id, REVISION, schema.Variant.PREVIEW),
    ]
    for key in stale:
        aws.put(key, b"an older revision")

    report = reconcile(aws, repair=True)

    assert found(report) == {"original_without_record": [image_id], "variant_without_image": [image_id]}
    assert sorted(aws.object_keys()) == current
    assert status_of(aws, image_id) == "available"


def test_given_a_pending_record_past_its_window_when_repaired_then_it_and_its_upload_are_gone(
    aws: Aws, pending_image: UploadImage
) -> None:
    image_id = pending_image()
    item = aws.item(image_id)
    assert item is not None
    aws.put(schema.incoming_object_key(image_id), b"late bytes")
    past_expiry = datetime.fromtimestamp(int(item["expires_at"]), UTC) + MIN_AGE + timedelta(minutes=1)

    report = reconcile(aws, repair=True, at=max(past_expiry, later()))

    assert report.checks["expired_record"].repaired == 1
    assert aws.item(image_id) is None
    assert aws.object_keys() == []


def test_given_debris_next_to_fresh_uploads_when_repaired_then_only_what_is_old_enough_goes(
    aws: Aws, pending_image: UploadImage
) -> None:
    """The run comes exactly the minimum age after the debris was made, and so before the
    uploads made a moment later are that old."""
    debris = schema.variant_object_key(OTHER_ID, REVISION, schema.Variant.PREVIEW)
    aws.put(debris, b"old")
    debris_made = aws.s3.head_object(Bucket=BUCKET_NAME, Key=debris)["LastModified"]
    time.sleep(1.1)  # S3 stamps objects to the second
    in_flight = pending_image()
    aws.put(schema.incoming_object_key(in_flight), b"being processed")
    young_orphan = schema.original_object_key("f" * 32, REVISION)
    aws.put(young_orphan, b"a run in progress writes its original before its record")

    report = reconcile(aws, repair=True, at=debris_made + MIN_AGE)

    assert found(report) == {"variant_without_image": [OTHER_ID]}
    assert sorted(aws.object_keys()) == sorted([schema.incoming_object_key(in_flight), young_orphan])
    assert status_of(aws, in_flight) == "pending"


def test_given_reporting_only_when_reconciled_then_nothing_changes(
    aws: Aws, available_image: UploadImage
) -> None:
    image_id = available_image()
    aws.mark_deleting(image_id)
    aws.put(schema.incoming_object_key(OTHER_ID), b"nobody's")
    before = (sorted(aws.object_keys()), aws.table_items())

    report = reconcile(aws, repair=False)

    assert report.found == 2
    assert all(check.repaired == 0 for check in report.checks.values())
    assert (sorted(aws.object_keys()), aws.table_items()) == before


def test_given_more_debris_than_a_run_may_repair_when_repaired_then_the_rest_is_reported_for_the_next_run(
    aws: Aws,
) -> None:
    ids = [f"{number:032x}" for number in range(5)]
    for image_id in ids:
        aws.put(schema.original_object_key(image_id, REVISION), b"orphan")

    first = reconcile(aws, repair=True, limits=Limits(page_size=2, max_repairs=3))
    second = reconcile(aws, repair=True, limits=Limits(page_size=2, max_repairs=3))

    assert (
        first.checks["original_without_record"].found,
        first.checks["original_without_record"].repaired,
    ) == (5, 3)
    assert (
        second.checks["original_without_record"].found,
        second.checks["original_without_record"].repaired,
    ) == (2, 2)
    assert aws.object_keys() == []


def test_given_a_bound_on_objects_when_a_run_stops_early_then_resuming_carries_on_where_it_stopped(
    aws: Aws,
) -> None:
    ids = [f"{number:032x}" for number in range(5)]
    for image_id in ids:
        aws.put(schema.variant_object_key(image_id, REVISION, schema.Variant.THUMBNAIL), b"orphan")
    bounded = reconciler(aws, later(), Limits(page_size=2, max_objects=2))

    first = bounded.run(repair=False, min_age=MIN_AGE)
    assert first.resume is not None
    second = bounded.run(repair=False, min_age=MIN_AGE, resume=first.resume)

    assert found(first)["variant_without_image"] == ids[:2]
    assert found(second)["variant_without_image"] == ids[2:4]
    assert first.as_dict()["complete"] is False


def test_given_many_records_when_walked_in_small_pages_then_every_one_is_examined(
    aws: Aws, pending_image: UploadImage
) -> None:
    for _ in range(7):
        pending_image()

    report = reconcile(aws, repair=False, limits=Limits(page_size=3))

    assert report.checks["stuck_deleting"].examined == 7
    assert report.resume is None


def test_given_the_scheduled_event_when_the_function_runs_then_it_repairs_with_at_least_the_configured_age(
    aws: Aws, available_image: UploadImage, monkeypatch: pytest.MonkeyPatch
) -> None:
    image_id = available_image()
    aws.mark_deleting(image_id)
    monkeypatch.setenv("RECONCILE_MIN_AGE_SECONDS", str(int(MIN_AGE.total_seconds())))
    get_reconcile_settings.cache_clear()
    at = {"now": soon()}
    monkeypatch.setattr(reconcile_dependencies, "reconciler", lambda: reconciler(aws, at["now"]))

    # A request for a smaller minimum age does not lower the configured one.
    young = reconcile_handler.handler({"repair": True, "min_age_seconds": 0}, invocation_context())
    at["now"] = later()
    old = reconcile_handler.handler({"repair": True}, invocation_context())

    assert (young["min_age_seconds"], young["found"]) == (int(MIN_AGE.total_seconds()), 0)
    assert old["checks"]["stuck_deleting"]["repaired"] == 1
    assert aws.item(image_id) is None
    get_reconcile_settings.cache_clear()


def test_given_an_unknown_field_in_the_event_when_the_function_runs_then_it_refuses_it(aws: Aws) -> None:
    with pytest.raises(ValueError, match="repiar"):
        reconcile_handler.handler({"repiar": True}, invocation_context())


def test_given_a_run_when_it_ends_then_each_checks_findings_and_repairs_are_published_as_emf(
    aws: Aws,
    available_image: UploadImage,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    image_id = available_image()
    aws.mark_deleting(image_id)
    monkeypatch.setattr(reconcile_dependencies, "reconciler", lambda: reconciler(aws, later()))
    capsys.readouterr()

    reconcile_handler.handler({"repair": True}, invocation_context())

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    values = {
        (directive["Metrics"][0]["Name"], line["check"]): line[directive["Metrics"][0]["Name"]]
        for line in lines
        for directive in line["_aws"]["CloudWatchMetrics"]
    }
    assert {directive["Namespace"] for line in lines for directive in line["_aws"]["CloudWatchMetrics"]} == {
        "ImageService"
    }
    assert (
        values[("ReconcileFindings", "stuck_deleting")] == [1.0]
        or values[("ReconcileFindings", "stuck_deleting")] == 1.0
    )
    assert values[("ReconcileRepairs", "stuck_deleting")] in ([1.0], 1.0)
    assert values[("ReconcileFindings", "variant_without_image")] in ([0.0], 0.0)
    assert len(values) == 2 * 6


@pytest.mark.parametrize(
    "module",
    sorted(
        f"image_reconcile.{path.stem}"
        for path in (Path(__file__).resolve().parents[2] / "lambda_src" / "image_reconcile").glob("*.py")
        if path.stem != "__init__"
    ),
)
def test_the_reconcile_asset_needs_neither_the_api_nor_processing_side(module: str) -> None:
    # Its asset bundles image_core/ and image_reconcile/ with Powertools and pydantic only.
    blocked = (
        "import sys; sys.modules.update(image_api=None, image_processing=None, jwt=None, "
        f"cryptography=None, PIL=None); import {module}"
    )

    lambda_src = Path(__file__).resolve().parents[2] / "lambda_src"
    result = subprocess.run([sys.executable, "-c", blocked], cwd=lambda_src, capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
