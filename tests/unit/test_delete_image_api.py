"""DELETE /images/{image_id}: everything of the image goes, and a failed DELETE can be retried."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from image_core import schema
from tests.unit.conftest import Aws, UploadImage
from tests.unit.harness import ApiClient


class FailOnce:
    """A botocore ``before-call`` hook that makes the first call of an operation fail like AWS would."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self.failed = False

    def __call__(self, **_: Any) -> None:
        if not self.failed:
            self.failed = True
            raise ClientError(
                {"Error": {"Code": "InternalError", "Message": "We encountered an internal error"}},
                self.operation,
            )


def test_deleting_an_available_image_removes_everything(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given an available image with tags, and another image that must survive
    image_id = available_image(user_id="alice", tags=["cats", "dogs"])
    survivor = available_image(user_id="alice", tags=["cats"])

    # When the client deletes the first
    result = api.delete(image_id)

    # Then the answer is 204 with no body
    assert result.status_code == 204
    assert not result.body
    # And the image, its tag items, its object and its variants are gone, and only they
    assert api.get(image_id).status_code == 404
    assert {item["pk"] for item in aws.table_items()} == {schema.image_partition(survivor)}
    assert aws.variant_keys(image_id) == []
    assert len(aws.variant_keys(survivor)) == len(schema.DERIVED_VARIANTS)
    assert sorted(aws.object_keys()) == sorted([*aws.original_keys(survivor), *aws.variant_keys(survivor)])
    assert len(aws.original_keys(survivor)) == 1
    assert [item["image_id"] for item in api.list(tag="cats").json()["items"]] == [survivor]


def test_a_second_delete_is_not_found(api: ApiClient, available_image: UploadImage) -> None:
    image_id = available_image()
    assert api.delete(image_id).status_code == 204

    result = api.delete(image_id)

    assert result.status_code == 404
    assert result.error["code"] == "not_found"


def test_originals_and_variants_of_every_revision_are_deleted_even_those_no_record_names(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given an available image, an original and a variant an interrupted processing run left
    # behind, and a re-upload still waiting under the incoming prefix
    image_id = available_image()
    leftover = schema.variant_object_key(image_id, "0" * 64, schema.Variant.THUMBNAIL)
    aws.put(leftover, b"RIFF....WEBP", "image/webp")
    aws.put(schema.original_object_key(image_id, "0" * 64), b"bytes", "image/jpeg")
    aws.put(schema.incoming_object_key(image_id), b"bytes", "image/jpeg")

    # When it is deleted
    assert api.delete(image_id).status_code == 204

    # Then no object of it is left
    assert aws.object_keys() == []


def test_a_pending_image_can_be_deleted(api: ApiClient, aws: Aws, pending_image: UploadImage) -> None:
    image_id = pending_image(tags=["cats"])

    assert api.delete(image_id).status_code == 204

    assert api.get(image_id).status_code == 404
    assert aws.table_items() == []


@pytest.mark.parametrize("image_id", ["0123456789abcdef0123456789abcdef", "nope"])
def test_deleting_an_unknown_image_is_not_found_and_writes_nothing(
    api: ApiClient, aws: Aws, image_id: str
) -> None:
    result = api.delete(image_id)

    assert result.status_code == 404
    assert [operation for operation, _ in aws.dynamodb_calls if operation != "GetItem"] == []


def test_a_delete_that_fails_part_way_hides_the_image_and_a_retry_finishes_it(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given an available image, and S3 failing the next deletion of objects
    image_id = available_image(user_id="alice", tags=["cats"])
    aws.service_s3.meta.events.register("before-call.s3.DeleteObject", FailOnce("DeleteObject"))

    # When the client deletes it
    failed = api.delete(image_id)

    # Then it is told only that something went wrong
    assert failed.status_code == 500
    assert failed.error == {"code": "internal", "message": "internal error"}
    # And the image is already hidden everywhere, its record kept to finish the job
    assert api.get(image_id).status_code == 404
    assert api.list().json()["items"] == []
    assert api.list(tag="cats").json()["items"] == []
    record = aws.item(image_id)
    assert record is not None
    assert record["status"] == "deleting"
    assert sorted(aws.object_keys()) == sorted([*aws.original_keys(image_id), *aws.variant_keys(image_id)])

    # When the client retries
    retried = api.delete(image_id)

    # Then the delete completes and nothing is left behind
    assert retried.status_code == 204
    assert aws.table_items() == []
    assert aws.object_keys() == []


def test_a_delete_that_fails_at_the_last_step_is_finished_by_a_retry(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given DynamoDB failing the final removal of the record
    image_id = available_image(tags=["cats"])
    aws.service_dynamodb.meta.events.register("before-call.dynamodb.DeleteItem", FailOnce("DeleteItem"))

    # When the client deletes, and retries after the failure
    assert api.delete(image_id).status_code == 500
    assert aws.object_keys() == []
    retried = api.delete(image_id)

    # Then the retry finishes the job
    assert retried.status_code == 204
    assert aws.table_items() == []
