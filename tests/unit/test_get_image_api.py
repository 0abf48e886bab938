"""GET /images/{image_id}: one image's metadata, hidden once its deletion has begun."""

from __future__ import annotations

import pytest

from image_core import schema
from tests.unit.conftest import TABLE_NAME, Aws, UploadImage
from tests.unit.harness import ApiClient


def test_available_image_is_described_in_full(api: ApiClient, available_image: UploadImage) -> None:
    # Given an available image
    image_id = available_image(user_id="alice", tags=["cats", "sofa"], at="2026-03-01T09:30:00+00:00")

    # When the client asks for it
    result = api.get(image_id)

    # Then it gets exactly the image's public fields
    assert result.status_code == 200
    assert result.json() == {
        "image_id": image_id,
        "user_id": "alice",
        "tags": ["cats", "sofa"],
        "description": None,
        "content_type": "image/jpeg",
        "size": len(b"\xff\xd8\xff image bytes ") + len(image_id),
        "status": "available",
        "created_at": "2026-03-01T09:30:00.000000Z",
        "visibility": "private",
    }


def test_pending_image_has_no_size_yet(api: ApiClient, pending_image: UploadImage) -> None:
    image_id = pending_image()

    image = api.get(image_id).json()

    assert image["status"] == "pending"
    assert image["size"] is None


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
    aws.dynamodb.update_item(
        TableName=TABLE_NAME,
        Key={
            schema.PARTITION_KEY: {"S": schema.image_partition(image_id)},
            schema.SORT_KEY: {"S": schema.IMAGE_SORT_KEY},
        },
        UpdateExpression="SET #status = :deleting",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":deleting": {"S": "deleting"}},
    )

    # Then it is already gone for callers
    assert api.get(image_id).status_code == 404
    assert api.download(image_id).status_code == 404
