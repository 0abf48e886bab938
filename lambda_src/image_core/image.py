"""An image: its id, its record (what every function reads and writes) and its facts.

The record changes state through its own methods only: ``registered`` makes a pending one,
``made_available`` records what processing found in the bytes, ``refused`` and ``failed``
take it out of every listing with a reason. Each returns a new record, validated like one
read from the table. An image's facts are defined once, by ``ImageFacts``: the record carries
its fields, processing finds them, and the repository writes and removes ``FACT_FIELDS``.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from image_core import schema
from image_core.schema import ImageStatus, Visibility

_IMAGE_ID = re.compile(r"[0-9a-f]{32}")


def new_image_id() -> str:
    return uuid.uuid4().hex


def is_image_id(value: str) -> bool:
    """Whether ``value`` could be an id this service issued (anything else cannot exist)."""
    return _IMAGE_ID.fullmatch(value) is not None


class ImageContentType(StrEnum):
    JPEG = "image/jpeg"
    PNG = "image/png"
    GIF = "image/gif"
    WEBP = "image/webp"
    # HEIF images, as phones store photos; both names are in use for the same container.
    HEIC = "image/heic"
    HEIF = "image/heif"


class Reason(StrEnum):
    """Why an image is ``rejected`` (the first five) or ``failed`` (the last two)."""

    UNSUPPORTED_FORMAT = "unsupported_format"
    CONTENT_TYPE_MISMATCH = "content_type_mismatch"
    CORRUPT = "corrupt"
    TOO_MANY_PIXELS = "too_many_pixels"
    # Too many frames or JPEG scans, or a decoder out of memory: more work than an upload may cost.
    TOO_MUCH_WORK = "too_much_work"
    PROCESSING_FAILED = "processing_failed"
    # The accepted original disappeared from the bucket; found by reconciliation.
    ORIGINAL_MISSING = "original_missing"


class ImageFacts(BaseModel):
    """What processing found in the bytes of an available image (and the duplicate it hints at).

    Each is None until the image is available; all but ``duplicate_of`` are known once it is.
    """

    model_config = ConfigDict(frozen=True)

    size: int | None = None
    width: int | None = None
    height: int | None = None
    # Pillow's name of the format found in the bytes: JPEG, PNG, GIF, WEBP, MPO, HEIF.
    format: str | None = None
    sha256: str | None = None
    frames: int | None = None
    exif_orientation: int | None = None
    # An earlier available image of the same user with an equal perceptual hash: found in the
    # table, not in the bytes.
    duplicate_of: str | None = None
    # 64-bit difference hash (16 hex digits) of the upright first frame; stored, never shown.
    perceptual_hash: str | None = Field(default=None, exclude=True)

    def missing(self) -> list[str]:
        """The facts of the bytes this set lacks (``duplicate_of`` is not one of them)."""
        return [name for name in FACT_FIELDS if name != "duplicate_of" and getattr(self, name) is None]


# Every fact field: written when an image becomes available, removed when it stops being so.
FACT_FIELDS: Final = tuple(ImageFacts.model_fields)


# What an owner may edit: an image on its way (pending; processing keeps the edit) or
# available. Rejected and failed images only wait to expire, and deleting ones to go.
EDITABLE_STATUSES: Final = frozenset({ImageStatus.PENDING, ImageStatus.AVAILABLE})


class Image(ImageFacts):
    """An image's record, as stored and as shown to callers: its facts (``ImageFacts``) and the rest.

    ``reason`` says why an image is ``rejected`` or ``failed``. ``revision``, ``perceptual_hash``,
    ``expires_at``, ``request_id`` and ``version`` are bookkeeping, stored but never shown.
    """

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "image_id": "3f2a9c0e8b1d4e6fa7c5b2d1e0f9a8b7",
                    "user_id": "alice",
                    "tags": ["cat", "garden"],
                    "description": "Mia in the sun",
                    "content_type": "image/png",
                    "size": 70,
                    "status": "available",
                    "created_at": "2026-03-01T12:00:00.000000Z",
                    "visibility": "public",
                    "width": 2,
                    "height": 2,
                    "format": "PNG",
                    "sha256": "9f3c2b7e1d0a4c5b8e6f7a9d2c1b0e3f4a5d6c7b8e9f0a1b2c3d4e5f6a7b8c9d",
                    "frames": 1,
                    "exif_orientation": 1,
                    "duplicate_of": None,
                    "reason": None,
                }
            ]
        },
    )

    image_id: str
    user_id: str
    tags: list[str]
    description: str | None = None
    content_type: ImageContentType
    status: ImageStatus
    created_at: str
    # Records written before images had a visibility are private, as every upload was.
    visibility: Visibility = Visibility.PRIVATE
    reason: Reason | None = None
    # The sha256 of the upload the record describes, which names its original's and variants' keys.
    revision: str | None = Field(default=None, exclude=True)
    # Epoch seconds after which the record counts as gone (schema.TTL_ATTRIBUTE, same name).
    expires_at: int | None = Field(default=None, exclude=True)
    # The id of the API request that registered the image (API Gateway's requestId, the API
    # function's correlation id): processing logs its outcome under it too.
    request_id: str | None = Field(default=None, exclude=True)

    # How many times the record was changed after its upload was requested (outcomes, edits,
    # deletion). Every such write is conditional on the version it read and raises it by one,
    # so two writers deciding from the same read can never both succeed: the loser reads again.
    version: int = Field(default=0, exclude=True)

    @classmethod
    def registered(
        cls,
        *,
        user_id: str,
        tags: list[str],
        description: str | None,
        content_type: ImageContentType,
        visibility: Visibility,
        created_at: str,
        expires_at: int,
        request_id: str | None = None,
    ) -> Image:
        """A new image, pending until its bytes arrive; gone at ``expires_at`` unless they do."""
        return cls.model_validate(
            {
                "image_id": new_image_id(),
                "user_id": user_id,
                "tags": tags,
                "description": description,
                "content_type": content_type,
                "visibility": visibility,
                "status": ImageStatus.PENDING,
                "created_at": created_at,
                "expires_at": expires_at,
                "request_id": request_id,
            }
        )

    def made_available(self, *, revision: str, facts: ImageFacts, duplicate_of: str | None) -> Image:
        """Processing accepted the upload ``revision``: listed, with what it found; kept until deleted."""
        if missing := facts.missing():
            raise ValueError(f"an available image needs all its facts; missing {', '.join(missing)}")
        found = {name: getattr(facts, name) for name in FACT_FIELDS} | {"duplicate_of": duplicate_of}
        return self._becoming(
            status=ImageStatus.AVAILABLE,
            revision=revision,
            **found,
            reason=None,
            expires_at=None,
        )

    def refused(self, *, revision: str, reason: Reason, expires_at: int) -> Image:
        """Processing refused the upload ``revision`` for ``reason``: unlisted, without facts, kept
        until ``expires_at`` so the client learns why."""
        if reason in (Reason.PROCESSING_FAILED, Reason.ORIGINAL_MISSING):
            raise ValueError("a failure is not a refusal: see failed() and lost_original()")
        return self._unavailable(
            ImageStatus.REJECTED, revision=revision, reason=reason, expires_at=expires_at
        )

    def failed(self, *, revision: str, expires_at: int) -> Image:
        """Processing the upload ``revision`` failed every attempt: like a refusal, for that reason."""
        return self._unavailable(
            ImageStatus.FAILED, revision=revision, reason=Reason.PROCESSING_FAILED, expires_at=expires_at
        )

    def lost_original(self, *, expires_at: int) -> Image:
        """The available image's original is gone from the bucket: failed, unlisted, without facts."""
        if self.status is not ImageStatus.AVAILABLE or self.revision is None:
            raise ValueError("only an available image has an original to lose")
        return self._unavailable(
            ImageStatus.FAILED, revision=self.revision, reason=Reason.ORIGINAL_MISSING, expires_at=expires_at
        )

    def edited(
        self,
        *,
        tags: list[str] | None = None,
        description: str | None = None,
        visibility: Visibility | None = None,
    ) -> Image:
        """The owner's edit: each of these given (not None) replaces its value. Only a pending or
        available image may be edited (a pending one keeps the edit when it becomes available)."""
        if self.status not in EDITABLE_STATUSES:
            raise ValueError(f"a {self.status.value} image cannot be edited")
        given = {"tags": tags, "description": description, "visibility": visibility}
        return self._becoming(**{name: value for name, value in given.items() if value is not None})

    def without_duplicate_hint(self) -> Image:
        """This image as shown to anyone but its owner: ``duplicate_of`` may name a private image."""
        return self._becoming(duplicate_of=None)

    def expired(self, now: datetime) -> bool:
        """Whether the record's time is up; DynamoDB deletes such items only eventually."""
        return self.expires_at is not None and self.expires_at <= now.timestamp()

    @property
    def listed_at(self) -> str:
        return schema.listed_at(self.created_at, self.image_id)

    @property
    def upload_key(self) -> str:
        return schema.incoming_object_key(self.image_id)

    def _unavailable(self, status: ImageStatus, *, revision: str, reason: Reason, expires_at: int) -> Image:
        return self._becoming(
            status=status,
            revision=revision,
            reason=reason,
            expires_at=expires_at,
            **dict.fromkeys(FACT_FIELDS),
        )

    def _becoming(self, **changes: Any) -> Image:
        """This record with ``changes``, validated like a record read from the table."""
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        return type(self).model_validate(fields | changes)
