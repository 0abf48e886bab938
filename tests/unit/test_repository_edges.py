"""Where DynamoDB's error codes become domain errors (nothing above sees a ClientError)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from image_core.errors import Conflict, NotFound
from image_core.models import Image, ImageContentType
from image_core.repository import ImageRepository
from image_core.schema import ImageStatus
from tests.unit.conftest import TABLE_NAME, Aws


@pytest.fixture
def repository(aws: Aws) -> ImageRepository:
    return ImageRepository(aws.service_dynamodb, TABLE_NAME)


def an_image(image_id: str = "0123456789abcdef0123456789abcdef") -> Image:
    return Image(
        image_id=image_id,
        user_id="alice",
        tags=["cats"],
        content_type=ImageContentType.PNG,
        status=ImageStatus.PENDING,
        created_at="2026-03-01T12:00:00.000000Z",
    )


def test_creating_an_existing_image_is_a_conflict(repository: ImageRepository) -> None:
    repository.create_pending(an_image())

    with pytest.raises(Conflict):
        repository.create_pending(an_image())


def test_making_a_missing_image_available_is_not_found(repository: ImageRepository, aws: Aws) -> None:
    with pytest.raises(NotFound):
        repository.mark_available(an_image(), size=10)

    assert aws.table_items() == []


def test_hiding_a_missing_image_is_not_found(repository: ImageRepository) -> None:
    with pytest.raises(NotFound):
        repository.hide_for_deletion(an_image())


def test_a_transaction_lost_to_a_concurrent_one_is_a_conflict(repository: ImageRepository, aws: Aws) -> None:
    # Given DynamoDB cancelling the transaction because another one touches the same items
    repository.create_pending(an_image())

    def cancel(**_: Any) -> None:
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
            },
            "TransactWriteItems",
        )

    aws.service_dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", cancel)

    # Then the caller is told to retry
    with pytest.raises(Conflict):
        repository.mark_available(an_image(), size=10)
