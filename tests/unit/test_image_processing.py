"""S3 ObjectCreated handling: pending images become available; orphan objects are removed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from image_core import schema
from tests.unit.conftest import BUCKET_NAME, Aws, UploadImage, boto_session
from tests.unit.harness import ApiClient, deliver_object_created


def upload_object(aws: Aws, key: str, content: bytes = b"image bytes") -> None:
    aws.s3.put_object(Bucket=BUCKET_NAME, Key=key, Body=content)


def test_uploaded_object_makes_its_image_available_with_the_objects_real_size(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given a pending image whose object has just been uploaded
    image_id = pending_image(user_id="alice", tags=["cats"])
    key = schema.original_object_key(image_id)
    upload_object(aws, key, b"x" * 1234)

    # When S3 reports the object (with a size that is not the stored one)
    deliver_object_created(BUCKET_NAME, key, size=1)

    # Then the image is available with the size S3 stores
    image = api.get(image_id).json()
    assert image["status"] == "available"
    assert image["size"] == 1234


def test_available_image_is_in_its_indexes_with_one_tag_item_per_tag(
    aws: Aws, available_image: UploadImage
) -> None:
    # Given an image that became available
    image_id = available_image(user_id="alice", tags=["cats", "sofa"], at="2026-03-01T10:00:00+00:00")

    # Then the image item carries the keys of the all-images and by-user indexes
    listed_at = f"2026-03-01T10:00:00.000000Z#{image_id}"
    image_item = aws.item(image_id)
    assert image_item is not None
    assert image_item[schema.ALL_IMAGES.partition_key] == schema.ALL_IMAGES.partition_value()
    assert image_item[schema.BY_USER.partition_key] == schema.BY_USER.partition_value(user_id="alice")
    assert image_item[schema.LISTED_AT] == listed_at
    # And each tag has an item with the tag indexes' keys and a copy of the listing attributes
    for tag in ("cats", "sofa"):
        tag_item = aws.item(image_id, schema.tag_sort_key(tag))
        assert tag_item is not None
        assert tag_item[schema.BY_TAG.partition_key] == schema.BY_TAG.partition_value(tag=tag)
        assert tag_item[schema.BY_USER_TAG.partition_key] == schema.BY_USER_TAG.partition_value(
            user_id="alice", tag=tag
        )
        assert tag_item[schema.LISTED_AT] == listed_at
        view_attributes = ("image_id", "user_id", "tags", "content_type", "size", "status", "created_at")
        assert {name: tag_item[name] for name in view_attributes} == {
            name: image_item[name] for name in view_attributes
        }
        # A tag item is only in the tag indexes
        assert schema.ALL_IMAGES.partition_key not in tag_item
        assert schema.BY_USER.partition_key not in tag_item


def test_processing_the_same_event_twice_rewrites_the_same_facts(
    aws: Aws, pending_image: UploadImage
) -> None:
    # Given an uploaded image that was processed once
    image_id = pending_image(tags=["cats"])
    key = schema.original_object_key(image_id)
    upload_object(aws, key, b"12345")
    deliver_object_created(BUCKET_NAME, key, 5)
    after_first = sorted(aws.table_items(), key=lambda item: item[schema.SORT_KEY])

    # When S3 delivers the same event again
    deliver_object_created(BUCKET_NAME, key, 5)

    # Then nothing changed
    assert sorted(aws.table_items(), key=lambda item: item[schema.SORT_KEY]) == after_first
    assert aws.object_keys() == [key]


def test_a_re_upload_updates_the_size(api: ApiClient, aws: Aws, pending_image: UploadImage) -> None:
    # Given an available image
    image_id = pending_image(tags=["cats"])
    key = schema.original_object_key(image_id)
    upload_object(aws, key, b"small")
    deliver_object_created(BUCKET_NAME, key, 5)

    # When the client posts again with the same form, with other bytes
    upload_object(aws, key, b"a bigger picture")
    deliver_object_created(BUCKET_NAME, key, 16)

    # Then the record and its tag item tell the new size
    assert api.get(image_id).json()["size"] == 16
    tag_item = aws.item(image_id, schema.tag_sort_key("cats"))
    assert tag_item is not None
    assert tag_item["size"] == 16


def test_object_without_a_record_is_deleted(aws: Aws, api: ApiClient) -> None:
    # Given an object under the originals prefix that no upload registered
    stray_id = "0" * 32
    key = schema.original_object_key(stray_id)
    upload_object(aws, key)

    # When it is reported
    deliver_object_created(BUCKET_NAME, key, 11)

    # Then it is removed and no record appears
    assert aws.object_keys() == []
    assert aws.table_items() == []


def test_object_keys_in_events_are_url_decoded(aws: Aws, api: ApiClient) -> None:
    # Given an object whose key S3 reports URL-encoded (a space becomes '+', '!' becomes '%21')
    key = f"{schema.ORIGINALS_PREFIX}holiday photo!.jpg"
    upload_object(aws, key)

    # When it is reported
    deliver_object_created(BUCKET_NAME, key, 11)

    # Then the object with the decoded key is the one found (and deleted: nothing registered it)
    assert aws.object_keys() == []


def test_object_of_an_image_being_deleted_is_deleted(aws: Aws, pending_image: UploadImage) -> None:
    # Given an image whose deletion has begun when its object arrives
    image_id = pending_image(tags=["cats"])
    aws.dynamodb.update_item(
        TableName="image-metadata-test",
        Key={
            schema.PARTITION_KEY: {"S": schema.image_partition(image_id)},
            schema.SORT_KEY: {"S": schema.IMAGE_SORT_KEY},
        },
        UpdateExpression="SET #status = :deleting",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":deleting": {"S": "deleting"}},
    )
    key = schema.original_object_key(image_id)
    upload_object(aws, key)

    # When the object is reported
    deliver_object_created(BUCKET_NAME, key, 11)

    # Then the object is removed and the image is not made available
    assert aws.object_keys() == []
    item = aws.item(image_id)
    assert item is not None
    assert item["status"] == "deleting"
    assert aws.item(image_id, schema.tag_sort_key("cats")) is None


def test_image_deleted_between_read_and_write_has_its_object_removed(
    aws: Aws, pending_image: UploadImage
) -> None:
    # Given a pending image whose DELETE starts just before processing writes
    image_id = pending_image(tags=["cats"])
    key = schema.original_object_key(image_id)
    upload_object(aws, key)
    concurrent = boto_session.client("dynamodb")

    def start_deleting_first(**_: Any) -> None:
        concurrent.update_item(
            TableName="image-metadata-test",
            Key={
                schema.PARTITION_KEY: {"S": schema.image_partition(image_id)},
                schema.SORT_KEY: {"S": schema.IMAGE_SORT_KEY},
            },
            UpdateExpression="SET #status = :deleting",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":deleting": {"S": "deleting"}},
        )

    aws.service_dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", start_deleting_first)

    # When the object is reported
    deliver_object_created(BUCKET_NAME, key, 11)

    # Then the conditional write refuses, and the object is removed rather than orphaned
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
    deliver_object_created(BUCKET_NAME, schema.original_object_key(image_id), 11)

    # Then the image stays pending
    assert api.get(image_id).json()["status"] == "pending"


def test_objects_outside_the_originals_prefix_are_ignored(aws: Aws, api: ApiClient) -> None:
    # Given an object elsewhere in the bucket
    upload_object(aws, "thumbnails/abc.jpg")

    # When it is reported
    deliver_object_created(BUCKET_NAME, "thumbnails/abc.jpg", 11)

    # Then it is left alone and the table is not even read
    assert aws.object_keys() == ["thumbnails/abc.jpg"]
    assert aws.dynamodb_calls == []


def test_events_for_another_bucket_are_ignored(aws: Aws, api: ApiClient) -> None:
    # Given an object in our bucket with the key an event from another bucket names
    key = schema.original_object_key("0" * 32)
    upload_object(aws, key)

    # When the event names another bucket
    deliver_object_created("someone-elses-bucket", key, 11)

    # Then our bucket and table are untouched
    assert aws.object_keys() == [key]
    assert aws.dynamodb_calls == []


def test_the_processing_code_needs_none_of_the_api_functions_requirements() -> None:
    # Its asset bundles only image_processing/requirements.txt: no PyJWT, no cryptography.
    blocked = "import sys; sys.modules.update(jwt=None, cryptography=None); import image_processing.handler"

    lambda_src = Path(__file__).resolve().parents[2] / "lambda_src"
    result = subprocess.run([sys.executable, "-c", blocked], cwd=lambda_src, capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
