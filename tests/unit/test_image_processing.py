"""S3 ObjectCreated handling through the handlers, against moto: verify, record, derive, clean up.

Every case uses a real file (``tests.unit.images``) and the event S3 would send for it.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from image_core import schema
from image_processing.upload_processor import InjectedFaultError
from tests import images
from tests.unit.conftest import BUCKET_NAME, FAULT_TAG, TABLE_NAME, Aws, UploadImage, boto_session
from tests.unit.harness import ApiClient, FakeClock, deliver_object_created, deliver_processing_failure

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"}


def upload(aws: Aws, image_id: str, data: bytes, content_type: str = "image/jpeg") -> str:
    """Store the bytes as the client's presigned POST would and deliver S3's event; their revision."""
    key = schema.incoming_object_key(image_id)
    etag = aws.put(key, data, content_type)
    deliver_object_created(BUCKET_NAME, key, len(data), etag=etag)
    return revision_of(data)


def revision_of(data: bytes) -> str:
    """The revision processing records for these bytes: their sha256."""
    return hashlib.sha256(data).hexdigest()


def variant_keys(image_id: str, revision: str) -> list[str]:
    return sorted(
        schema.variant_object_key(image_id, revision, variant) for variant in schema.DERIVED_VARIANTS
    )


def stored_for(image_id: str, revision: str) -> list[str]:
    """Exactly what the bucket holds for an image available with ``revision``: its original and variants."""
    return sorted(schema.revision_object_keys(image_id, revision))


def sorted_items(aws: Aws) -> list[dict[str, Any]]:
    return sorted(aws.table_items(), key=lambda item: (item[schema.PARTITION_KEY], item[schema.SORT_KEY]))


def write_calls(aws: Aws) -> list[str]:
    return [operation for operation, _ in aws.dynamodb_calls if operation in WRITES]


def once_before_transaction(aws: Aws, action: Callable[[], None]) -> None:
    """Run ``action`` just before the service's next TransactWriteItems: a concurrent run winning the race."""
    done: list[bool] = []

    def hook(**_: Any) -> None:
        if not done:
            done.append(True)
            action()

    aws.service_dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", hook)


# --- accepted uploads ---------------------------------------------------------------------------


def test_a_verified_jpeg_becomes_available_with_its_facts_and_variants(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given a pending image whose JPEG (EXIF orientation 6, GPS tags) has just been uploaded
    image_id = pending_image(tags=["cats"])
    data = images.jpeg_rotated_with_gps(400, 200)

    # When S3 reports it
    revision = upload(aws, image_id, data)

    # Then the image is available with the facts of its bytes
    image = api.get(image_id).json()
    assert image["status"] == "available"
    assert (image["width"], image["height"], image["format"], image["frames"]) == (400, 200, "JPEG", 1)
    assert (image["size"], image["exif_orientation"], image["reason"]) == (len(data), 6, None)
    # And its variants are stored under its revision, upright WebPs without metadata
    assert aws.variant_keys(image_id) == variant_keys(image_id, revision)
    thumbnail_key = schema.variant_object_key(image_id, revision, schema.Variant.THUMBNAIL)
    stored = aws.s3.get_object(Bucket=BUCKET_NAME, Key=thumbnail_key)
    assert stored["ContentType"] == "image/webp"
    thumbnail = Image.open(io.BytesIO(stored["Body"].read()))
    assert (thumbnail.format, thumbnail.size) == ("WEBP", (128, 256))
    assert "exif" not in thumbnail.info
    # And the upload left the quarantine: its bytes, exactly as sent, are the original of its
    # revision (out of the lifecycle rule's reach), and nothing else is stored
    original = aws.s3.get_object(Bucket=BUCKET_NAME, Key=schema.original_object_key(image_id, revision))
    assert (original["Body"].read(), original["ContentType"]) == (data, "image/jpeg")
    assert sorted(aws.object_keys()) == stored_for(image_id, revision)
    # And the record no longer expires
    record = aws.item(image_id)
    assert record is not None
    assert schema.TTL_ATTRIBUTE not in record


def test_an_available_image_is_in_its_indexes_with_one_tag_item_per_tag(
    aws: Aws, available_image: UploadImage
) -> None:
    # Given an image that became available
    image_id = available_image(user_id="alice", tags=["cats", "sofa"], at="2026-03-01T10:00:00+00:00")

    # Then the image item carries the keys of the by-user and duplicates indexes; not the
    # all-images one, which only a stage without authentication reads (test_auth_mode_none)
    listed_at = f"2026-03-01T10:00:00.000000Z#{image_id}"
    image_item = aws.item(image_id)
    assert image_item is not None
    assert schema.ALL_IMAGES.partition_key not in image_item
    assert image_item[schema.BY_USER.partition_key] == schema.BY_USER.partition_value(user_id="alice")
    assert image_item[schema.DUPLICATES.partition_key] == schema.DUPLICATES.partition_value(
        user_id="alice", perceptual_hash=image_item["perceptual_hash"]
    )
    assert image_item[schema.LISTED_AT] == listed_at
    # And each tag has an item with the by-user-tag index's key and a copy of the public attributes
    for tag in ("cats", "sofa"):
        tag_item = aws.item(image_id, schema.tag_sort_key(tag))
        assert tag_item is not None
        assert schema.BY_TAG.partition_key not in tag_item
        assert tag_item[schema.BY_USER_TAG.partition_key] == schema.BY_USER_TAG.partition_value(
            user_id="alice", tag=tag
        )
        assert tag_item[schema.LISTED_AT] == listed_at
        view_attributes = (
            "image_id",
            "user_id",
            "tags",
            "content_type",
            "size",
            "status",
            "created_at",
            "visibility",
        )
        facts = ("width", "height", "format", "sha256", "frames", "exif_orientation")
        assert {name: tag_item[name] for name in view_attributes + facts} == {
            name: image_item[name] for name in view_attributes + facts
        }
        # A tag item is only in the tag indexes, and carries no bookkeeping but the revision (which
        # names the variants' keys: a listing by tag presigns thumbnails from its tag items)
        assert schema.ALL_IMAGES.partition_key not in tag_item
        assert schema.BY_USER.partition_key not in tag_item
        assert schema.DUPLICATES.partition_key not in tag_item
        assert tag_item["revision"] == image_item["revision"]
        assert "version" not in tag_item


# --- rejected uploads ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type", "reason"),
    [
        pytest.param(images.TEXT, "image/jpeg", "unsupported_format", id="text declared as JPEG"),
        pytest.param(images.png(), "image/jpeg", "content_type_mismatch", id="PNG declared as JPEG"),
        pytest.param(images.truncated(images.jpeg(200, 150)), "image/jpeg", "corrupt", id="truncated JPEG"),
        pytest.param(images.png_declaring(100_000, 100_000), "image/png", "too_many_pixels", id="PNG bomb"),
    ],
)
def test_a_refused_upload_is_rejected_with_its_reason_and_leaves_no_bytes(
    api: ApiClient,
    aws: Aws,
    clock: FakeClock,
    pending_image: UploadImage,
    data: bytes,
    content_type: str,
    reason: str,
) -> None:
    # Given a pending image registered for `content_type` (every registration here is image/jpeg;
    # the PNG bomb gets a PNG registration)
    image_id = (
        pending_image(tags=["cats"])
        if content_type == "image/jpeg"
        else api.upload(query={"tags": "cats", "content_type": content_type}).json()["image_id"]
    )

    # When its bytes are reported
    clock.set("2026-03-01T12:10:00+00:00")
    upload(aws, image_id, data, content_type)

    # Then it is rejected, says why, has no facts and lists nowhere
    image = api.get(image_id).json()
    assert (image["status"], image["reason"]) == ("rejected", reason)
    assert (image["size"], image["width"], image["sha256"]) == (None, None, None)
    assert api.list().json()["items"] == []
    assert aws.item(image_id, schema.tag_sort_key("cats")) is None
    # And nothing of it stays in the bucket
    assert aws.object_keys() == []
    # And its record is kept a while for the client to read, then expires
    record = aws.item(image_id)
    assert record is not None
    # Seven days, the documented retention: a literal here, so a change to the constant fails
    expected_expiry = datetime(2026, 3, 1, 12, 10, tzinfo=UTC) + timedelta(days=7)
    assert record[schema.TTL_ATTRIBUTE] == pytest.approx(expected_expiry.timestamp(), abs=1)
    # And downloading it is refused
    assert api.download(image_id).status_code == 409


def test_a_refused_re_upload_of_an_available_image_takes_it_out_of_every_listing(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given an available image
    image_id = pending_image(tags=["cats"])
    first = upload(aws, image_id, images.jpeg(seed=1))
    assert api.get(image_id).json()["status"] == "available"

    # When a text file is posted through the same (still valid) form
    upload(aws, image_id, images.TEXT)

    # Then the image is rejected, unlisted, without tag items, facts, original or variants
    image = api.get(image_id).json()
    assert (image["status"], image["reason"], image["format"]) == ("rejected", "unsupported_format", None)
    assert api.list().json()["items"] == []
    assert api.list(tag="cats").json()["items"] == []
    assert aws.item(image_id, schema.tag_sort_key("cats")) is None
    assert aws.object_keys() == []
    record = aws.item(image_id)
    assert record is not None
    assert record["revision"] != first
    assert not {index.partition_key for index in schema.LIST_INDEXES} & set(record)
    assert schema.DUPLICATES.partition_key not in record


def test_a_rejected_image_becomes_available_when_good_bytes_follow_in_its_window(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given an image whose first upload was refused
    image_id = pending_image()
    upload(aws, image_id, images.truncated(images.jpeg(200, 150)))
    assert api.get(image_id).json()["reason"] == "corrupt"

    # When the client posts a good JPEG through the same form
    upload(aws, image_id, images.jpeg(200, 150))

    # Then it is available, with no reason and no expiry any more
    image = api.get(image_id).json()
    assert (image["status"], image["reason"], image["width"]) == ("available", None, 200)
    record = aws.item(image_id)
    assert record is not None
    assert schema.TTL_ATTRIBUTE not in record


def test_the_same_refused_bytes_posted_again_are_deleted_again(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given an image whose text file was refused
    image_id = pending_image()
    upload(aws, image_id, images.TEXT)
    assert api.get(image_id).json()["reason"] == "unsupported_format"

    # When the very same bytes are posted again through the form
    upload(aws, image_id, images.TEXT)

    # Then they are gone again and the image stays rejected
    assert aws.object_keys() == []
    assert api.get(image_id).json()["status"] == "rejected"


# --- at least once, exactly once ---------------------------------------------------------------


def test_a_duplicated_event_changes_nothing_and_writes_nothing(aws: Aws, pending_image: UploadImage) -> None:
    # Given an uploaded image that was processed once
    image_id = pending_image(tags=["cats"])
    key = schema.incoming_object_key(image_id)
    data = images.jpeg()
    etag = aws.put(key, data, "image/jpeg")
    deliver_object_created(BUCKET_NAME, key, len(data), etag=etag)
    items, objects = sorted_items(aws), sorted(aws.object_keys())
    aws.dynamodb_calls.clear()

    # When S3 delivers the same event again
    deliver_object_created(BUCKET_NAME, key, len(data), etag=etag)

    # Then nothing changed, and the only call was the read of the record (the upload is gone)
    assert sorted_items(aws) == items
    assert sorted(aws.object_keys()) == objects
    assert [operation for operation, _ in aws.dynamodb_calls] == ["GetItem"]


def test_a_late_event_for_replaced_bytes_changes_nothing(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given two uploads through the same form, both processed
    image_id = pending_image()
    key = schema.incoming_object_key(image_id)
    first = images.jpeg(seed=1)
    first_etag = aws.put(key, first, "image/jpeg")
    deliver_object_created(BUCKET_NAME, key, len(first), etag=first_etag)
    upload(aws, image_id, images.jpeg(seed=2))
    items = sorted_items(aws)
    aws.dynamodb_calls.clear()

    # When the first upload's event arrives (again) after the second was processed
    deliver_object_created(BUCKET_NAME, key, len(first), etag=first_etag)

    # Then the second upload's record stands, untouched
    assert sorted_items(aws) == items
    assert write_calls(aws) == []


def test_a_re_upload_is_processed_again_and_its_facts_and_variants_replace_the_old_ones(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given an available image
    image_id = pending_image(tags=["cats"])
    first = upload(aws, image_id, images.jpeg(64, 48, seed=1))

    # When the client posts other bytes with the same form
    second_data = images.png(300, 100, seed=2)
    second = upload(aws, image_id, second_data, "image/jpeg")

    # Then (declared a JPEG, a PNG came) it is rejected; posting a good one again makes it available
    assert api.get(image_id).json()["reason"] == "content_type_mismatch"
    third_data = images.jpeg(300, 100, seed=3)
    third = upload(aws, image_id, third_data)
    image = api.get(image_id).json()
    assert (image["status"], image["width"], image["height"], image["size"]) == (
        "available",
        300,
        100,
        len(third_data),
    )
    # And the record, its tag item and its listing tell the new facts
    tag_item = aws.item(image_id, schema.tag_sort_key("cats"))
    assert tag_item is not None
    assert (tag_item["width"], tag_item["size"]) == (300, len(third_data))
    assert [item["width"] for item in api.list(tag="cats").json()["items"]] == [300]
    # And only the current upload's original and variants exist
    assert sorted(aws.object_keys()) == stored_for(image_id, third)
    assert aws.read(schema.original_object_key(image_id, third)) == third_data
    assert first != second != third


def test_two_runs_for_the_same_upload_record_it_once(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given an upload whose event is being processed twice at once: the other run records
    # it just before this one writes
    image_id = pending_image(tags=["cats"])
    key = schema.incoming_object_key(image_id)
    data = images.jpeg()
    etag = aws.put(key, data, "image/jpeg")
    once_before_transaction(aws, lambda: deliver_object_created(BUCKET_NAME, key, len(data), etag=etag))

    # When this run writes
    deliver_object_created(BUCKET_NAME, key, len(data), etag=etag)

    # Then its conditional write lost, it saw its own upload recorded, and kept its objects
    assert [op for op in write_calls(aws) if op == "TransactWriteItems"] == ["TransactWriteItems"] * 2
    assert api.get(image_id).json()["status"] == "available"
    assert sorted(aws.object_keys()) == stored_for(image_id, revision_of(data))
    assert len(api.list(tag="cats").json()["items"]) == 1


def test_a_run_overtaken_by_a_newer_upload_leaves_the_newer_one_recorded(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given a run processing the first upload, and a second upload posted and processed
    # before the first run writes
    image_id = pending_image()
    key = schema.incoming_object_key(image_id)
    first = images.jpeg(64, 48, seed=1)
    first_etag = aws.put(key, first, "image/jpeg")
    second = images.jpeg(80, 60, seed=2)
    once_before_transaction(aws, lambda: upload(aws, image_id, second))

    # When the first run writes
    deliver_object_created(BUCKET_NAME, key, len(first), etag=first_etag)

    # Then the second upload is what the record says, and only its original and variants exist
    image = api.get(image_id).json()
    assert (image["width"], image["size"]) == (80, len(second))
    assert sorted(aws.object_keys()) == stored_for(image_id, revision_of(second))


# --- re-posted uploads: the quarantine ---------------------------------------------------------------


def fail_once(client: Any, event_name: str) -> None:
    """Make the service's next call named by ``event_name`` raise: a crash at that point of a run."""
    done: list[bool] = []

    def hook(**_: Any) -> None:
        if not done:
            done.append(True)
            raise RuntimeError(f"crash at {event_name}")

    client.meta.events.register(event_name, hook)


def test_the_same_bytes_posted_again_leave_one_verified_original_and_an_empty_quarantine(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given an available image (the defect: a retried POST stored its bytes again, tagged
    # unverified, "already processed" never retagged them, and the lifecycle rule deleted them)
    image_id = pending_image(tags=["cats"])
    data = images.jpeg(seed=5)
    revision = upload(aws, image_id, data)
    facts = api.get(image_id).json()
    items = sorted_items(aws)
    aws.dynamodb_calls.clear()

    # When the client retries its POST with the very same bytes
    assert upload(aws, image_id, data) == revision

    # Then exactly its one original and its variants remain, nothing under the incoming prefix,
    # the record unchanged and not written
    assert sorted(aws.object_keys()) == stored_for(image_id, revision)
    assert aws.read(schema.original_object_key(image_id, revision)) == data
    assert api.get(image_id).json() == facts
    assert sorted_items(aws) == items
    assert write_calls(aws) == []


def test_a_re_upload_is_not_served_until_processing_accepts_it(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given an available image, and other bytes posted through its form but not yet processed
    image_id = pending_image()
    first = images.jpeg(64, 48, seed=1)
    first_revision = upload(aws, image_id, first)
    second = images.jpeg(80, 60, seed=2)
    key = schema.incoming_object_key(image_id)
    etag = aws.put(key, second, "image/jpeg")

    # When the original is downloaded meanwhile, Then it is the accepted bytes
    url = api.download(image_id).json()["url"]
    assert url.split("?")[0].endswith(schema.original_object_key(image_id, first_revision))
    assert aws.read(schema.original_object_key(image_id, first_revision)) == first

    # And once processing accepted the new bytes, they are what is served, and they alone remain
    deliver_object_created(BUCKET_NAME, key, len(second), etag=etag)
    second_revision = revision_of(second)
    url = api.download(image_id).json()["url"]
    assert url.split("?")[0].endswith(schema.original_object_key(image_id, second_revision))
    assert sorted(aws.object_keys()) == stored_for(image_id, second_revision)


def test_a_refused_re_upload_is_never_copied_to_the_originals(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given an available image
    image_id = pending_image()
    upload(aws, image_id, images.jpeg(seed=1))
    copies: list[dict[str, Any]] = []
    aws.service_s3.meta.events.register(
        "before-parameter-build.s3.CopyObject", lambda params, **_: copies.append(params)
    )

    # When refused bytes are posted through its form and processed
    upload(aws, image_id, images.truncated(images.jpeg(200, 150, seed=2)))

    # Then nothing was copied to the originals, and the image is rejected without bytes
    assert copies == []
    assert api.get(image_id).json()["status"] == "rejected"
    assert aws.object_keys() == []


def test_bytes_replaced_after_they_were_read_are_not_copied(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given a run that has read and verified an upload, when other bytes replace it just before
    # the run copies it to the originals
    image_id = pending_image()
    key = schema.incoming_object_key(image_id)
    first = images.jpeg(64, 48, seed=1)
    first_etag = aws.put(key, first, "image/jpeg")
    second = images.truncated(images.jpeg(80, 60, seed=2))
    replaced: list[str] = []

    def replace(**_: Any) -> None:
        if not replaced:
            replaced.append(aws.put(key, second, "image/jpeg"))

    aws.service_s3.meta.events.register("before-call.s3.CopyObject", replace)

    # When the run goes on
    deliver_object_created(BUCKET_NAME, key, len(first), etag=first_etag)

    # Then it copied nothing (the copy names the ETag it verified), recorded nothing and left
    # none of its variants: the new bytes wait, unserved, for their own event
    assert api.get(image_id).json()["status"] == "pending"
    assert aws.object_keys() == [key]
    assert aws.read(key) == second


def test_a_run_that_crashed_between_copy_and_record_is_repaired_by_the_retry(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given an available image re-uploaded, whose run crashed after copying the new original
    # but before recording it
    image_id = available_image()
    key = schema.incoming_object_key(image_id)
    data = images.jpeg(80, 60, seed=21)
    etag = aws.put(key, data, "image/jpeg")
    fail_once(aws.service_dynamodb, "before-call.dynamodb.TransactWriteItems")
    with pytest.raises(RuntimeError):
        deliver_object_created(BUCKET_NAME, key, len(data), etag=etag)
    assert api.get(image_id).json()["width"] == 32  # the first upload is still what is served

    # When Lambda retries the event
    deliver_object_created(BUCKET_NAME, key, len(data), etag=etag)

    # Then the new bytes are recorded, and exactly their original and variants remain
    assert api.get(image_id).json()["width"] == 80
    assert sorted(aws.object_keys()) == stored_for(image_id, revision_of(data))


def test_a_run_that_crashed_after_recording_is_finished_by_the_retry(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given an available image re-uploaded, whose run crashed after recording the new bytes,
    # before deleting the replaced original and the upload
    image_id = available_image()
    key = schema.incoming_object_key(image_id)
    data = images.jpeg(80, 60, seed=22)
    etag = aws.put(key, data, "image/jpeg")
    fail_once(aws.service_s3, "before-call.s3.DeleteObjects")
    with pytest.raises(RuntimeError):
        deliver_object_created(BUCKET_NAME, key, len(data), etag=etag)
    assert len(aws.original_keys(image_id)) == 2
    assert key in aws.object_keys()

    # When Lambda retries the event
    deliver_object_created(BUCKET_NAME, key, len(data), etag=etag)

    # Then nothing is orphaned: one original, its variants, an empty quarantine
    assert api.get(image_id).json()["width"] == 80
    assert sorted(aws.object_keys()) == stored_for(image_id, revision_of(data))


def test_a_run_that_crashed_after_recording_a_rejection_is_finished_by_the_retry(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given an available image re-uploaded with refused bytes, whose run crashed after recording
    # the rejection, before deleting the replaced original and the upload
    image_id = available_image()
    key = schema.incoming_object_key(image_id)
    data = images.TEXT
    etag = aws.put(key, data, "image/jpeg")
    fail_once(aws.service_s3, "before-call.s3.DeleteObjects")
    with pytest.raises(RuntimeError):
        deliver_object_created(BUCKET_NAME, key, len(data), etag=etag)
    assert api.get(image_id).json()["status"] == "rejected"
    assert aws.original_keys(image_id) != []

    # When Lambda retries the event
    deliver_object_created(BUCKET_NAME, key, len(data), etag=etag)

    # Then the rejected image has no bytes left at all
    assert aws.object_keys() == []


def test_a_failure_of_an_upload_recorded_before_a_crash_finishes_it(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given a re-upload recorded by a run that then crashed on every attempt before cleaning up
    image_id = available_image()
    key = schema.incoming_object_key(image_id)
    data = images.jpeg(80, 60, seed=23)
    etag = aws.put(key, data, "image/jpeg")
    fail_once(aws.service_s3, "before-call.s3.DeleteObjects")
    with pytest.raises(RuntimeError):
        deliver_object_created(BUCKET_NAME, key, len(data), etag=etag)

    # When Lambda hands the event to the failure function
    deliver_processing_failure(BUCKET_NAME, key, len(data), etag=etag)

    # Then the image stays available with the recorded bytes, and the clean-up is finished
    assert (api.get(image_id).json()["status"], api.get(image_id).json()["width"]) == ("available", 80)
    assert sorted(aws.object_keys()) == stored_for(image_id, revision_of(data))


def test_deleting_an_image_removes_its_upload_originals_and_variants(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given an available image with a re-upload waiting in the quarantine
    image_id = available_image()
    aws.put(schema.incoming_object_key(image_id), images.jpeg(seed=24), "image/jpeg")

    # When its owner deletes it
    assert api.delete(image_id).status_code == 204

    # Then nothing of it is left; the waiting upload's event then finds no record and no bytes
    assert aws.object_keys() == []
    deliver_object_created(BUCKET_NAME, schema.incoming_object_key(image_id), 11)
    assert aws.object_keys() == []


# --- duplicates -----------------------------------------------------------------------------------


def test_the_same_picture_uploaded_again_by_its_user_is_marked_a_duplicate(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given an available image, and the same picture uploaded again by the same user, re-encoded
    picture = images.noise(12, 8, seed=10).resize((480, 320), Image.Resampling.BICUBIC)
    original = pending_image(user_id="alice")
    upload(aws, original, images.encoded(picture, "JPEG", quality=90))
    again = pending_image(user_id="alice")

    # When the second upload is processed
    upload(aws, again, images.encoded(picture.resize((240, 160)), "JPEG", quality=80))

    # Then it is available and names the first as what it duplicates, found by a Query
    assert api.get(again).json()["duplicate_of"] == original
    assert api.get(original).json()["duplicate_of"] is None
    (query,) = aws.calls_of("Query")[-1:]
    assert query["IndexName"] == schema.DUPLICATES.name


def test_another_users_copy_is_no_duplicate(api: ApiClient, aws: Aws, pending_image: UploadImage) -> None:
    data = images.jpeg(seed=4)
    upload(aws, pending_image(user_id="alice"), data)
    bobs = pending_image(user_id="bob")

    upload(aws, bobs, data)

    assert api.as_user("bob").get(bobs).json()["duplicate_of"] is None


def test_an_image_re_uploaded_with_the_same_bytes_is_no_duplicate_of_itself(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given an available image, whose presigned form is used again with the same picture
    # re-encoded (other bytes, same perceptual hash)
    image_id = pending_image()
    picture = images.noise(12, 8, seed=3).resize((240, 160))
    upload(aws, image_id, images.encoded(picture, "JPEG", quality=90))

    upload(aws, image_id, images.encoded(picture, "JPEG", quality=70))

    assert api.get(image_id).json()["duplicate_of"] is None


# --- orphans and expiry ---------------------------------------------------------------------------


def test_an_object_without_a_record_is_deleted_with_any_variants(aws: Aws, api: ApiClient) -> None:
    # Given an upload that nothing registered, and a stray variant and original of its id
    stray_id = "0" * 32
    aws.put(schema.variant_object_key(stray_id, "abc", schema.Variant.THUMBNAIL), b"webp")
    aws.put(schema.original_object_key(stray_id, "abc"), images.jpeg())

    # When it is reported
    upload(aws, stray_id, images.jpeg())

    # Then it is removed, with the variant, and no record appears
    assert aws.object_keys() == []
    assert aws.table_items() == []


def test_an_object_arriving_after_its_pending_record_expired_is_an_orphan(
    api: ApiClient, aws: Aws, clock: FakeClock, pending_image: UploadImage
) -> None:
    # Given a pending image whose window and grace have passed (DynamoDB has not deleted it yet)
    image_id = pending_image(at="2026-03-01T12:00:00+00:00")
    clock.set("2026-03-02T12:00:00+00:00")

    # When bytes arrive for it anyway
    upload(aws, image_id, images.jpeg())

    # Then they are deleted and the record is left to its TTL
    assert aws.object_keys() == []
    record = aws.item(image_id)
    assert record is not None
    assert record["status"] == "pending"


def test_object_keys_in_events_are_url_decoded(aws: Aws, api: ApiClient) -> None:
    # Given an object whose key S3 reports URL-encoded (a space becomes '+', '!' becomes '%21')
    key = f"{schema.INCOMING_PREFIX}holiday photo!.jpg"
    aws.put(key, images.jpeg())

    # When it is reported
    deliver_object_created(BUCKET_NAME, key, 11)

    # Then the object with the decoded key is the one found (and deleted: nothing registered it)
    assert aws.object_keys() == []


def set_status(image_id: str, status: str, client: Any) -> None:
    client.update_item(
        TableName=TABLE_NAME,
        Key={
            schema.PARTITION_KEY: {"S": schema.image_partition(image_id)},
            schema.SORT_KEY: {"S": schema.IMAGE_SORT_KEY},
        },
        UpdateExpression="SET #status = :status",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":status": {"S": status}},
    )


def test_object_of_an_image_being_deleted_is_deleted(aws: Aws, pending_image: UploadImage) -> None:
    # Given an image whose deletion has begun when its object arrives
    image_id = pending_image(tags=["cats"])
    set_status(image_id, "deleting", aws.dynamodb)

    # When the object is reported
    upload(aws, image_id, images.jpeg())

    # Then the object is removed and the image is not made available
    assert aws.object_keys() == []
    item = aws.item(image_id)
    assert item is not None
    assert item["status"] == "deleting"
    assert aws.item(image_id, schema.tag_sort_key("cats")) is None


def test_image_deleted_between_read_and_write_has_its_object_and_variants_removed(
    aws: Aws, pending_image: UploadImage
) -> None:
    # Given a pending image whose DELETE starts just before processing writes
    image_id = pending_image(tags=["cats"])
    concurrent = boto_session.client("dynamodb")
    once_before_transaction(aws, lambda: set_status(image_id, "deleting", concurrent))

    # When the object is reported
    upload(aws, image_id, images.jpeg())

    # Then the conditional write refuses, and the object and its variants are removed, not orphaned
    assert aws.object_keys() == []
    assert aws.item(image_id, schema.tag_sort_key("cats")) is None
    item = aws.item(image_id)
    assert item is not None
    assert item["status"] == "deleting"


def test_object_gone_before_processing_leaves_the_image_pending(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given an event for an object that no longer exists
    image_id = pending_image()

    # When it is processed
    deliver_object_created(BUCKET_NAME, schema.incoming_object_key(image_id), 11, etag="0" * 32)

    # Then the image stays pending
    assert api.get(image_id).json()["status"] == "pending"


@pytest.mark.parametrize(
    "key",
    [
        schema.variant_object_key("0" * 32, "abc", schema.Variant.THUMBNAIL),
        schema.original_object_key("0" * 32, "abc"),
    ],
)
def test_objects_outside_the_incoming_prefix_are_ignored(aws: Aws, api: ApiClient, key: str) -> None:
    # Given an object elsewhere in the bucket: a variant, or an original processing wrote
    aws.put(key, b"bytes")

    # When it is reported (the bucket notifies for the incoming prefix only; should it not)
    deliver_object_created(BUCKET_NAME, key, 5)

    # Then it is left alone and the table is not even read
    assert aws.object_keys() == [key]
    assert aws.dynamodb_calls == []


def test_events_for_another_bucket_are_ignored(aws: Aws, api: ApiClient) -> None:
    # Given an object in our bucket with the key an event from another bucket names
    key = schema.incoming_object_key("0" * 32)
    aws.put(key, images.jpeg())

    # When the event names another bucket
    deliver_object_created("someone-elses-bucket", key, 11)

    # Then our bucket and table are untouched
    assert aws.object_keys() == [key]
    assert aws.dynamodb_calls == []


# --- failures -------------------------------------------------------------------------------------


def test_processing_an_image_with_the_fault_tag_fails_and_changes_nothing(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given an image tagged with the test stage's fault tag, whose bytes arrived
    image_id = pending_image(tags=[FAULT_TAG])
    key = schema.incoming_object_key(image_id)
    data = images.jpeg()
    etag = aws.put(key, data, "image/jpeg")

    # When S3 reports them, Then the invocation fails (for Lambda to retry)
    with pytest.raises(InjectedFaultError):
        deliver_object_created(BUCKET_NAME, key, len(data), etag=etag)

    # And nothing was written
    assert api.get(image_id).json()["status"] == "pending"
    assert aws.object_keys() == [key]
    assert write_calls(aws) == ["PutItem"]  # the registration


def test_an_event_that_failed_every_attempt_marks_its_image_failed_and_deletes_its_bytes(
    api: ApiClient, aws: Aws, clock: FakeClock, pending_image: UploadImage
) -> None:
    # Given an image whose processing failed every attempt, after the first one stored a variant
    # and copied the original
    image_id = pending_image(tags=[FAULT_TAG])
    key = schema.incoming_object_key(image_id)
    data = images.jpeg()
    etag = aws.put(key, data, "image/jpeg")
    revision = revision_of(data)
    aws.put(schema.variant_object_key(image_id, revision, schema.Variant.PREVIEW), b"webp", "image/webp")
    aws.put(schema.original_object_key(image_id, revision), data, "image/jpeg")
    clock.set("2026-03-01T12:10:00+00:00")

    # When Lambda hands the event to the failure function
    deliver_processing_failure(BUCKET_NAME, key, len(data), etag=etag)

    # Then the image is failed, says so, and none of its bytes are left
    image = api.get(image_id).json()
    assert (image["status"], image["reason"]) == ("failed", "processing_failed")
    assert aws.object_keys() == []
    record = aws.item(image_id)
    assert record is not None
    # Seven days, the documented retention: a literal here, so a change to the constant fails
    expected_expiry = datetime(2026, 3, 1, 12, 10, tzinfo=UTC) + timedelta(days=7)
    assert record[schema.TTL_ATTRIBUTE] == pytest.approx(expected_expiry.timestamp(), abs=1)


def test_bytes_whose_processing_failed_get_another_chance_when_posted_again(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given an image whose upload failed for good (a passing outage, say), its bytes deleted
    image_id = pending_image()
    key = schema.incoming_object_key(image_id)
    data = images.jpeg()
    etag = aws.put(key, data, "image/jpeg")
    deliver_processing_failure(BUCKET_NAME, key, len(data), etag=etag)
    assert api.get(image_id).json()["status"] == "failed"

    # When the client posts the same bytes again within the window
    upload(aws, image_id, data)

    # Then they are processed and the image becomes available
    image = api.get(image_id).json()
    assert (image["status"], image["reason"]) == ("available", None)


def test_the_same_bytes_failing_again_are_failed_and_deleted_again(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given an image whose upload failed, and the same bytes posted again
    image_id = pending_image(tags=[FAULT_TAG])
    key = schema.incoming_object_key(image_id)
    data = images.jpeg()
    etag = aws.put(key, data, "image/jpeg")
    deliver_processing_failure(BUCKET_NAME, key, len(data), etag=etag)
    assert aws.put(key, data, "image/jpeg") == etag

    # When they fail again, for good
    with pytest.raises(InjectedFaultError):
        deliver_object_created(BUCKET_NAME, key, len(data), etag=etag)
    deliver_processing_failure(BUCKET_NAME, key, len(data), etag=etag)

    # Then the image is failed and its bytes are gone again
    assert api.get(image_id).json()["status"] == "failed"
    assert aws.object_keys() == []


def test_a_failure_of_an_available_images_re_upload_takes_it_out_of_every_listing(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given an available image, re-uploaded with bytes whose processing then failed for good
    image_id = available_image(tags=["cats"])
    key = schema.incoming_object_key(image_id)
    data = images.jpeg(seed=11)
    etag = aws.put(key, data, "image/jpeg")

    # When the failure is recorded
    deliver_processing_failure(BUCKET_NAME, key, len(data), etag=etag)

    # Then the image is failed and gone from listings, with its tag items and every variant
    assert api.get(image_id).json()["status"] == "failed"
    assert api.list(tag="cats").json()["items"] == []
    assert aws.item(image_id, schema.tag_sort_key("cats")) is None
    assert aws.object_keys() == []


def test_a_failure_of_bytes_replaced_since_is_left_to_the_newer_upload(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given a failed event for a first upload, and a second upload processed meanwhile
    image_id = pending_image()
    key = schema.incoming_object_key(image_id)
    first = images.jpeg(seed=1)
    first_etag = aws.put(key, first, "image/jpeg")
    upload(aws, image_id, images.jpeg(seed=2))
    items, objects = sorted_items(aws), sorted(aws.object_keys())

    # When the first upload's failure arrives
    deliver_processing_failure(BUCKET_NAME, key, len(first), etag=first_etag)

    # Then the second upload stands
    assert api.get(image_id).json()["status"] == "available"
    assert sorted_items(aws) == items
    assert sorted(aws.object_keys()) == objects


def test_a_failure_of_an_upload_that_was_recorded_after_all_changes_nothing(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given an upload that was recorded (say the last attempt wrote, then timed out)
    image_id = pending_image()
    data = images.jpeg()
    key = schema.incoming_object_key(image_id)
    etag = aws.put(key, data, "image/jpeg")
    deliver_object_created(BUCKET_NAME, key, len(data), etag=etag)
    items, objects = sorted_items(aws), sorted(aws.object_keys())
    assert any(name.startswith(schema.ORIGINALS_PREFIX) for name in objects)

    # When its failure arrives
    deliver_processing_failure(BUCKET_NAME, key, len(data), etag=etag)

    # Then the image stays available: its record and every one of its objects (the original too)
    assert sorted_items(aws) == items
    assert sorted(aws.object_keys()) == objects


def test_a_failure_for_an_object_nobody_registered_deletes_it(aws: Aws, api: ApiClient) -> None:
    key = schema.incoming_object_key("f" * 32)
    etag = aws.put(key, images.jpeg())

    deliver_processing_failure(BUCKET_NAME, key, 11, etag=etag)

    assert aws.object_keys() == []
    assert aws.table_items() == []


def test_pending_images_expire_a_grace_period_after_their_upload_window(
    api: ApiClient, aws: Aws, clock: FakeClock, pending_image: UploadImage
) -> None:
    # Given a pending image, registered at noon
    image_id = pending_image(at="2026-03-01T12:00:00+00:00")
    record = aws.item(image_id)
    assert record is not None

    # Then its TTL is the window's end plus the grace, and reads honour it before DynamoDB does
    expiry = datetime.fromtimestamp(int(record[schema.TTL_ATTRIBUTE]), UTC)
    assert expiry > datetime(2026, 3, 1, 12, 0, tzinfo=UTC) + timedelta(minutes=10)
    clock.set(expiry)
    assert api.get(image_id).status_code == 404


# --- what the processing asset carries -----------------------------------------------------------


@pytest.mark.parametrize("module", ["image_processing.handler", "image_processing.failures"])
def test_the_processing_code_needs_none_of_the_api_functions_requirements(module: str) -> None:
    # Its asset (processing and failure functions) bundles only image_processing/requirements.txt:
    # no PyJWT, no cryptography.
    blocked = f"import sys; sys.modules.update(jwt=None, cryptography=None); import {module}"

    lambda_src = Path(__file__).resolve().parents[2] / "lambda_src"
    result = subprocess.run([sys.executable, "-c", blocked], cwd=lambda_src, capture_output=True, text=True)

    assert result.returncode == 0, result.stderr


def _modules_of(*packages: str) -> list[str]:
    lambda_src = Path(__file__).resolve().parents[2] / "lambda_src"
    return sorted(
        ".".join(path.relative_to(lambda_src).with_suffix("").parts)
        for package in packages
        for path in (lambda_src / package).glob("*.py")
        if path.stem != "__init__"
    )


@pytest.mark.parametrize("module", _modules_of("image_core", "image_processing"))
def test_the_processing_code_and_the_shared_core_import_nothing_of_the_api_side(module: str) -> None:
    # The processing asset bundles image_core/ and image_processing/ only: a module of either
    # that reached into image_api (token verification, the API's use cases, the cursor) would
    # fail there on its first import.
    blocked = f"import sys; sys.modules.update(image_api=None, jwt=None, cryptography=None); import {module}"

    lambda_src = Path(__file__).resolve().parents[2] / "lambda_src"
    result = subprocess.run([sys.executable, "-c", blocked], cwd=lambda_src, capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
