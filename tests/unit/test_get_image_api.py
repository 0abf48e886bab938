"""GET /images/{image_id}: one image's metadata, hidden once its deletion has begun."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.conftest import (
    PENDING_GRACE_SECONDS,
    UPLOAD_URL_EXPIRES_SECONDS,
    Aws,
    UploadImage,
    picture_of,
)
from tests.unit.harness import ApiClient, FakeClock


def test_available_image_is_described_in_full(api: ApiClient, available_image: UploadImage) -> None:
    # Given an available image (a 32x24 JPEG)
    image_id = available_image(user_id="alice", tags=["cats", "sofa"], at="2026-03-01T09:30:00+00:00")
    picture = picture_of(image_id)

    # When the client asks for it
    result = api.get(image_id)

    # Then it gets exactly the image's public fields, with the facts found in its bytes
    assert result.status_code == 200
    assert result.json() == {
        "image_id": image_id,
        "user_id": "alice",
        "tags": ["cats", "sofa"],
        "description": None,
        "content_type": "image/jpeg",
        "size": len(picture),
        "status": "available",
        "created_at": "2026-03-01T09:30:00.000000Z",
        "visibility": "private",
        "width": 32,
        "height": 24,
        "format": "JPEG",
        "sha256": hashlib.sha256(picture).hexdigest(),
        "frames": 1,
        "exif_orientation": 1,
        "duplicate_of": None,
        "reason": None,
    }


def test_pending_image_has_no_facts_yet(api: ApiClient, pending_image: UploadImage) -> None:
    image_id = pending_image()

    image = api.get(image_id).json()

    assert image["status"] == "pending"
    assert image["size"] is None
    assert image["width"] is None
    assert image["sha256"] is None


def test_a_pending_image_whose_window_and_grace_have_passed_is_gone(
    api: ApiClient, aws: Aws, clock: FakeClock, pending_image: UploadImage
) -> None:
    # Given a pending image whose bytes never came, read just before and just after its expiry
    image_id = pending_image(at="2026-03-01T12:00:00+00:00")
    expiry = datetime(2026, 3, 1, 12, 0, tzinfo=UTC) + timedelta(
        seconds=UPLOAD_URL_EXPIRES_SECONDS + PENDING_GRACE_SECONDS
    )
    clock.set(expiry - timedelta(seconds=1))
    assert api.get(image_id).status_code == 200

    # When its expiry has passed (DynamoDB has not deleted it yet: it does so only eventually)
    clock.set(expiry)

    # Then every read treats it as gone, though the item is still in the table
    assert api.get(image_id).status_code == 404
    assert api.download(image_id).status_code == 404
    assert api.delete(image_id).status_code == 404
    assert aws.item(image_id) is not None


@pytest.mark.parametrize(
    "image_id",
    [
        pytest.param("0123456789abcdef0123456789abcdef", id="well-formed but unknown"),
        pytest.param("not-an-id", id="not of the id format"),
        pytest.param("0123456789ABCDEF0123456789ABCDEF", id="upper case"),
    ],
)
def test_unknown_image_is_not_found(api: ApiClient, aws: Aws, image_id: str) -> None:
    result = api.get(image_id)

    assert result.status_code == 404
    assert result.error["code"] == "not_found"


def test_malformed_id_is_answered_without_reading_the_table(api: ApiClient, aws: Aws) -> None:
    assert api.get("../../etc").status_code == 404
    assert aws.dynamodb_calls == []


def test_image_being_deleted_is_not_found(api: ApiClient, aws: Aws, available_image: UploadImage) -> None:
    # Given an image whose deletion has begun but not finished
    image_id = available_image()
    aws.mark_deleting(image_id)

    # Then it is already gone for callers
    assert api.get(image_id).status_code == 404
    assert api.download(image_id).status_code == 404
