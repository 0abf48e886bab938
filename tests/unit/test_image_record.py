"""The image record's transitions: each says what changes, and returns a validated record."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from image_core.image import FACT_FIELDS, Image, ImageContentType, ImageFacts, Reason
from image_core.schema import ImageStatus, Visibility

FOUND = ImageFacts(
    size=10,
    width=4,
    height=3,
    format="PNG",
    sha256="ab" * 32,
    frames=1,
    exif_orientation=1,
    perceptual_hash="0123456789abcdef",
)


def a_pending_image() -> Image:
    return Image.registered(
        user_id="alice",
        tags=["cats"],
        description=None,
        content_type=ImageContentType.PNG,
        visibility=Visibility.PUBLIC,
        created_at="2026-03-01T12:00:00.000000Z",
        expires_at=1_772_370_000,
    )


def test_a_registered_image_is_pending_without_facts_and_expires() -> None:
    image = a_pending_image()

    assert image.status is ImageStatus.PENDING
    assert len(image.image_id) == 32
    assert image.expires_at == 1_772_370_000
    assert all(getattr(image, name) is None for name in FACT_FIELDS)


def test_an_available_image_has_every_fact_its_revision_and_no_expiry() -> None:
    available = a_pending_image().made_available(revision="rev-1", facts=FOUND, duplicate_of="f" * 32)

    assert available.status is ImageStatus.AVAILABLE
    assert (available.revision, available.expires_at, available.reason) == ("rev-1", None, None)
    assert {name: getattr(available, name) for name in FACT_FIELDS} == {
        **{name: getattr(FOUND, name) for name in FACT_FIELDS},
        "duplicate_of": "f" * 32,
    }


def test_an_image_cannot_become_available_without_all_the_facts_of_its_bytes() -> None:
    with pytest.raises(ValueError, match="perceptual_hash"):
        a_pending_image().made_available(
            revision="rev-1", facts=FOUND.model_copy(update={"perceptual_hash": None}), duplicate_of=None
        )


def test_a_refused_or_failed_image_loses_its_facts_and_says_why() -> None:
    available = a_pending_image().made_available(revision="rev-1", facts=FOUND, duplicate_of=None)

    refused = available.refused(revision="rev-2", reason=Reason.CORRUPT, expires_at=1_772_999_999)
    failed = available.failed(revision="rev-2", expires_at=1_772_999_999)

    assert (refused.status, refused.reason) == (ImageStatus.REJECTED, Reason.CORRUPT)
    assert (failed.status, failed.reason) == (ImageStatus.FAILED, Reason.PROCESSING_FAILED)
    for image in (refused, failed):
        assert (image.revision, image.expires_at) == ("rev-2", 1_772_999_999)
        assert all(getattr(image, name) is None for name in FACT_FIELDS)
    # The record it came from is unchanged: transitions return new records
    assert available.status is ImageStatus.AVAILABLE


def test_a_failure_is_not_a_refusal() -> None:
    with pytest.raises(ValueError, match="failed"):
        a_pending_image().refused(revision="rev-1", reason=Reason.PROCESSING_FAILED, expires_at=1)


def test_a_transition_is_validated_like_a_record_read_from_the_table() -> None:
    bad_facts = FOUND.model_construct(**{**FOUND.model_dump(), "perceptual_hash": "x", "width": "wide"})

    with pytest.raises(ValidationError, match="width"):
        a_pending_image().made_available(revision="rev-1", facts=bad_facts, duplicate_of=None)


def test_an_edit_changes_only_what_it_gives_and_keeps_the_facts() -> None:
    available = a_pending_image().made_available(revision="ab" * 32, facts=FOUND, duplicate_of=None)

    edited = available.edited(tags=["dogs"], visibility=Visibility.PRIVATE)

    assert (edited.tags, edited.visibility, edited.description) == (["dogs"], Visibility.PRIVATE, None)
    assert edited.model_copy(update={"tags": ["cats"], "visibility": Visibility.PUBLIC}) == available
    assert a_pending_image().edited(description="").description == ""


@pytest.mark.parametrize("status", [ImageStatus.REJECTED, ImageStatus.FAILED, ImageStatus.DELETING])
def test_only_a_pending_or_available_image_may_be_edited(status: ImageStatus) -> None:
    image = a_pending_image().model_copy(update={"status": status})

    with pytest.raises(ValueError, match=f"a {status.value} image cannot be edited"):
        image.edited(tags=["dogs"])
