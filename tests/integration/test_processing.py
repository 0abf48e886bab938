"""The processing function (S3 ObjectCreated under originals/): records uploads, removes orphans."""

from __future__ import annotations

import uuid

import pytest

from image_core import schema
from tests.integration.conftest import (
    Backend,
    ImageApi,
    png_bytes,
    request_upload,
    send_bytes,
    unique_tag,
    wait_for,
    wait_until_available,
)

pytestmark = pytest.mark.integration


def test_object_without_a_record_is_deleted(backend: Backend) -> None:
    # Given an object put straight into the bucket under incoming/<an id never issued>
    image_id = uuid.uuid4().hex
    key = schema.incoming_object_key(image_id)
    backend.s3.put_object(Bucket=backend.bucket, Key=key, Body=png_bytes(), ContentType="image/png")

    # When processing has run, Then the object is gone and no record was created
    wait_for(lambda: not backend.object_exists(key), what=f"{key} deleted")
    assert backend.image_items(image_id) == []


def test_object_whose_name_is_no_image_id_is_deleted(backend: Backend) -> None:
    # Given an object under incoming/ named like a file (S3 URL-encodes its key in the event)
    key = f"{schema.INCOMING_PREFIX}holiday photo {uuid.uuid4().hex[:8]}!.png"
    backend.s3.put_object(Bucket=backend.bucket, Key=key, Body=png_bytes(), ContentType="image/png")

    # When processing has run, Then the object is gone
    wait_for(lambda: not backend.object_exists(key), what=f"{key!r} deleted")


def test_object_outside_the_incoming_prefix_is_left_alone(backend: Backend) -> None:
    # Given an object outside the prefix (under the originals, which notify nobody), then an
    # orphan under it
    outside = schema.original_object_key(uuid.uuid4().hex, "0" * 64)
    orphan = schema.incoming_object_key(uuid.uuid4().hex)
    backend.s3.put_object(Bucket=backend.bucket, Key=outside, Body=png_bytes())
    backend.s3.put_object(Bucket=backend.bucket, Key=orphan, Body=png_bytes())
    try:
        # When the later orphan has been processed (so the earlier object would have been too)
        wait_for(lambda: not backend.object_exists(orphan), what=f"{orphan} deleted")

        # Then the object outside the prefix is still there
        assert backend.object_exists(outside)
    finally:
        backend.s3.delete_object(Bucket=backend.bucket, Key=outside)


def test_second_upload_through_the_same_grant_updates_the_size_everywhere(api: ImageApi, user: str) -> None:
    # Given an available public image
    tag = unique_tag("again")
    grant = request_upload(api, user, [tag], visibility="public")
    first = png_bytes(16, 16)
    send_bytes(grant, first, "image/png")
    assert wait_until_available(api, grant.image_id)["size"] == len(first)

    # When other bytes are sent with the same (still valid) presigned POST
    second = png_bytes(200, 100)
    assert len(second) != len(first)
    send_bytes(grant, second, "image/png")

    # Then the record, the own and the public listings, by tag or not, all show the new size
    wait_for(lambda: api.get(grant.image_id).json()["size"] == len(second), what="size updated")
    for params in ({}, {"tag": tag}, {"visibility": "public", "tag": tag}):
        [item] = api.list_images(params).json()["items"]
        assert (item["image_id"], item["size"]) == (grant.image_id, len(second)), params
