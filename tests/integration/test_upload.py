"""POST /images/upload and the presigned POST: real image bytes go straight to S3 and become available."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

import pytest

from image_core import schema
from tests.integration.conftest import (
    MAX_UPLOAD_BYTES,
    UPLOAD_URL_EXPIRES_SECONDS,
    Backend,
    ImageApi,
    grant_from,
    jpeg_bytes,
    padded_png,
    png_bytes,
    post_object,
    request_upload,
    send_bytes,
    unique_tag,
    wait_until_available,
)

pytestmark = pytest.mark.integration

IMAGE_FIELDS = {
    "image_id",
    "user_id",
    "tags",
    "description",
    "content_type",
    "size",
    "status",
    "created_at",
    "visibility",
}
# What processing found in the bytes (null until then), and why an image is rejected or failed.
FACT_FIELDS = {"width", "height", "format", "sha256", "frames", "exif_orientation", "duplicate_of", "reason"}


def assert_recent_utc_timestamp(value: str) -> None:
    """ISO-8601 in UTC (``...Z``), within a few minutes of now (the local cloud runs on this host)."""
    assert value.endswith("Z"), value
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset() == timedelta(0), value
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=5), value


def test_uploaded_png_becomes_available_with_its_size_type_and_lower_cased_tags(
    api: ImageApi, user: str
) -> None:
    # Given a real PNG and an upload granted with upper-case and repeated tags
    data = png_bytes(120, 80)
    cat, dog = unique_tag("cat"), unique_tag("dog")
    grant = request_upload(api, user, [cat.upper(), dog.title(), cat], "image/png", description="A red cat")

    # When the bytes are posted to the presigned POST and processing has run
    send_bytes(grant, data, "image/png")
    image = wait_until_available(api, grant.image_id)

    # Then the record describes the stored object, owned by the uploader and private
    assert set(image) == IMAGE_FIELDS | FACT_FIELDS
    assert (image["width"], image["height"], image["format"], image["frames"]) == (120, 80, "PNG", 1)
    assert image["sha256"] == hashlib.sha256(data).hexdigest()
    assert image["image_id"] == grant.image_id
    assert image["user_id"] == user
    assert image["visibility"] == "private"
    assert image["size"] == len(data)
    assert image["content_type"] == "image/png"
    assert image["tags"] == [cat, dog]
    assert image["description"] == "A red cat"
    assert image["status"] == "available"
    assert_recent_utc_timestamp(image["created_at"])


def test_upload_grant_is_a_presigned_post_pinning_key_type_and_size(api: ImageApi, user: str) -> None:
    # Given / When an upload is requested
    before = datetime.now(UTC).replace(microsecond=0)
    grant = request_upload(api, user, content_type="image/webp")

    # Then the POST policy pins exactly this object (under the incoming prefix: the quarantine
    # that only processing reads), its type and 1 byte .. 20 MiB, for 900 s
    assert grant.expires_in == UPLOAD_URL_EXPIRES_SECONDS
    assert grant.fields["key"] == schema.incoming_object_key(grant.image_id)
    assert grant.fields["Content-Type"] == "image/webp"
    conditions = grant.policy["conditions"]
    assert {"key": schema.incoming_object_key(grant.image_id)} in conditions
    assert {"Content-Type": "image/webp"} in conditions
    assert ["content-length-range", 1, MAX_UPLOAD_BYTES] in conditions
    expiration = datetime.fromisoformat(grant.policy["expiration"])
    expected = before + timedelta(seconds=UPLOAD_URL_EXPIRES_SECONDS)
    assert expected - timedelta(seconds=5) <= expiration <= expected + timedelta(seconds=60)


def test_requested_upload_without_bytes_is_pending_without_size(api: ImageApi, user: str) -> None:
    # Given an upload that was requested but never sent
    grant = request_upload(api, user, [unique_tag("pending")])

    # When its record is read
    response = api.get(grant.image_id)

    # Then it is pending, with no size yet
    assert response.status_code == 200, response.text
    image = response.json()
    assert image["status"] == "pending"
    assert image["size"] is None
    assert image["user_id"] == user


def test_upload_parameters_may_come_as_a_json_body_with_tags_as_an_array(api: ImageApi, user: str) -> None:
    # Given a real JPEG and the upload parameters as a JSON body
    data = jpeg_bytes()
    sunset = unique_tag("sunset")
    body = {
        "tags": [sunset.upper(), "beach"],
        "description": "Évening",
        "content_type": "image/jpeg",
    }

    # When it is uploaded
    grant = grant_from(api.request_upload(json_body=body))
    send_bytes(grant, data, "image/jpeg")
    image = wait_until_available(api, grant.image_id)

    # Then the body's values are the record's
    assert (image["user_id"], image["tags"], image["description"]) == (user, [sunset, "beach"], "Évening")
    assert (image["content_type"], image["size"]) == ("image/jpeg", len(data))


def test_fields_may_be_split_between_query_and_body(api: ImageApi, user: str) -> None:
    # Given the visibility in the query string and the tags in the body
    tag = unique_tag("split")

    # When the upload is requested
    grant = grant_from(api.request_upload({"visibility": "public"}, json_body={"tags": [tag]}))

    # Then both are taken
    image = api.get(grant.image_id).json()
    assert (image["user_id"], image["visibility"], image["tags"]) == (user, "public", [tag])


def test_content_type_defaults_to_jpeg(api: ImageApi, user: str) -> None:
    # Given / When an upload is requested without a content type
    grant = grant_from(api.request_upload())

    # Then JPEG is pinned and recorded
    assert grant.fields["Content-Type"] == "image/jpeg"
    assert api.get(grant.image_id).json()["content_type"] == "image/jpeg"


# --- what S3 refuses ----------------------------------------------------------------------------


def test_upload_over_20_mib_is_refused_by_s3_and_the_record_stays_pending(
    api: ImageApi, backend: Backend, user: str
) -> None:
    # Given an upload grant and a real PNG one byte over the limit
    grant = request_upload(api, user)
    data = padded_png(MAX_UPLOAD_BYTES + 1)

    # When it is posted
    response = post_object(grant, data, content_type="image/png")

    # Then S3 refuses it, stores nothing, and the record stays pending and unlisted
    assert response.status_code == 400, response.text
    assert "<Code>EntityTooLarge</Code>" in response.text
    key = schema.incoming_object_key(grant.image_id)
    assert not backend.object_exists(key)
    time.sleep(1)  # had anything been stored, its notification would have been processed by now
    image = api.get(grant.image_id).json()
    assert (image["status"], image["size"]) == ("pending", None)
    assert grant.image_id not in api.listed_ids({})


def test_upload_of_exactly_20_mib_is_accepted(api: ImageApi, user: str) -> None:
    # Given a real PNG of exactly the limit
    grant = request_upload(api, user)
    data = padded_png(MAX_UPLOAD_BYTES)

    # When it is posted
    send_bytes(grant, data, "image/png")

    # Then it becomes available with that size
    try:
        assert wait_until_available(api, grant.image_id)["size"] == MAX_UPLOAD_BYTES
    finally:
        api.delete(grant.image_id)


def test_empty_upload_is_refused_by_s3(api: ImageApi, backend: Backend, user: str) -> None:
    grant = request_upload(api, user)

    response = post_object(grant, b"", content_type="image/png")

    assert response.status_code == 400, response.text
    assert "<Code>EntityTooSmall</Code>" in response.text
    assert not backend.object_exists(schema.incoming_object_key(grant.image_id))


def test_upload_with_another_content_type_than_pinned_is_forbidden(
    api: ImageApi, backend: Backend, user: str
) -> None:
    # Given a grant for a PNG
    grant = request_upload(api, user, content_type="image/png")

    # When a JPEG is posted declaring its own type
    fields = {**grant.fields, "Content-Type": "image/jpeg"}
    response = post_object(grant, jpeg_bytes(), content_type="image/jpeg", fields=fields)

    # Then S3 refuses it: nothing stored, the record stays pending
    assert response.status_code == 403, response.text
    assert "<Code>AccessDenied</Code>" in response.text
    assert not backend.object_exists(schema.incoming_object_key(grant.image_id))
    assert api.get(grant.image_id).json()["status"] == "pending"


def test_grant_cannot_upload_to_another_key(api: ImageApi, backend: Backend, user: str) -> None:
    # Given a grant, and another image's key
    grant = request_upload(api, user)
    other = request_upload(api, user)
    other_key = schema.incoming_object_key(other.image_id)

    # When the grant is used for the other key
    response = post_object(
        grant, png_bytes(), content_type="image/png", fields={**grant.fields, "key": other_key}
    )

    # Then S3 refuses it
    assert response.status_code == 403, response.text
    assert not backend.object_exists(other_key)
    assert not backend.object_exists(schema.incoming_object_key(grant.image_id))
