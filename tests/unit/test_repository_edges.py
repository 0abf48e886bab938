"""Where DynamoDB's error codes become domain errors (nothing above sees a ClientError)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from image_core.errors import ChangedSinceRead, Conflict
from image_core.image import Image, ImageContentType
from image_core.repository import ImageRepository
from image_core.schema import ImageStatus
from image_core.settings import get_settings
from tests.unit.conftest import TABLE_NAME, Aws


@pytest.fixture
def repository(aws: Aws) -> ImageRepository:
    return ImageRepository(aws.service_dynamodb, TABLE_NAME, get_settings().listing_layout)


NOW = 1_772_366_400  # 2026-03-01T12:00:00Z


def an_image(image_id: str = "0123456789abcdef0123456789abcdef") -> Image:
    return Image(
        image_id=image_id,
        user_id="alice",
        tags=["cats"],
        content_type=ImageContentType.PNG,
        status=ImageStatus.PENDING,
        created_at="2026-03-01T12:00:00.000000Z",
        expires_at=NOW + 3600,
    )


def available(image: Image, revision: str = "etag-1") -> Image:
    return image.model_copy(
        update={
            "status": ImageStatus.AVAILABLE,
            "revision": revision,
            "size": 10,
            "perceptual_hash": "0123456789abcdef",
            "expires_at": None,
        }
    )


def test_creating_an_existing_image_is_a_conflict(repository: ImageRepository) -> None:
    repository.create_pending(an_image())

    with pytest.raises(Conflict):
        repository.create_pending(an_image())


def test_making_a_missing_image_available_is_a_conflict_and_writes_nothing(
    repository: ImageRepository, aws: Aws
) -> None:
    with pytest.raises(Conflict):
        repository.mark_available(available(an_image()), as_read=an_image(), now=NOW)

    assert aws.table_items() == []


def test_an_outcome_for_a_record_changed_since_it_was_read_is_a_conflict(
    repository: ImageRepository, aws: Aws
) -> None:
    # Given a record that processing read without a revision, then another run recorded one
    repository.create_pending(an_image())
    repository.mark_available(available(an_image(), "etag-2"), as_read=an_image(), now=NOW)

    # When the first run writes what it decided from its stale read
    with pytest.raises(Conflict):
        repository.mark_available(available(an_image(), "etag-1"), as_read=an_image(), now=NOW)

    # Then the other run's outcome stands
    item = aws.item(an_image().image_id)
    assert item is not None
    assert item["revision"] == "etag-2"


def test_an_outcome_for_an_expired_record_is_a_conflict(repository: ImageRepository) -> None:
    repository.create_pending(an_image())

    with pytest.raises(Conflict):
        repository.mark_available(available(an_image()), as_read=an_image(), now=NOW + 3600)


def test_a_pending_image_without_an_expiry_is_refused(repository: ImageRepository) -> None:
    with pytest.raises(ValueError, match="expiry"):
        repository.create_pending(an_image().model_copy(update={"expires_at": None}))


def test_hiding_a_missing_image_is_a_change_since_it_was_read(repository: ImageRepository) -> None:
    # The use case reads again, and answers not found (tests/unit/test_delete_image_api.py)
    with pytest.raises(ChangedSinceRead):
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
        repository.mark_available(available(an_image()), as_read=an_image(), now=NOW)
