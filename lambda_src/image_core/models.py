"""What the service accepts and answers, and the rules each value must follow.

The constrained types below are used both by the API's parameter declarations (Powertools
validates query strings and bodies against them) and by the domain models, so every entry
point enforces one rule per field.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from image_core import schema
from image_core.errors import InvalidParameter
from image_core.schema import ImageStatus, ListIndex, Visibility

# --- identifiers and timestamps --------------------------------------------------------------

_IMAGE_ID = re.compile(r"[0-9a-f]{32}")


def new_image_id() -> str:
    return uuid.uuid4().hex


def is_image_id(value: str) -> bool:
    """Whether ``value`` could be an id this service issued (anything else cannot exist)."""
    return _IMAGE_ID.fullmatch(value) is not None


def utc_timestamp(moment: datetime) -> str:
    """ISO-8601 in UTC with microseconds and ``Z``: fixed width, so text order is time order.

    ``isoformat`` rather than ``strftime`` because it zero-pads years before 1000 too, which
    matters for the far-past bounds of a date range.
    """
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# --- request values ---------------------------------------------------------------------------

MAX_TAGS: Final = 20
DEFAULT_PAGE_SIZE: Final = 20
MAX_PAGE_SIZE: Final = 100


class ImageContentType(StrEnum):
    JPEG = "image/jpeg"
    PNG = "image/png"
    GIF = "image/gif"
    WEBP = "image/webp"
    # HEIF images, as phones store photos; both names are in use for the same container.
    HEIC = "image/heic"
    HEIF = "image/heif"


UserId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._@-]+$")]

Description = Annotated[str, StringConstraints(max_length=1000)]


def _trimmed_lower_case(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _distinct_and_bounded(tags: list[str]) -> list[str]:
    # Counted after removing duplicates: "a,A, a" is one tag, not three.
    distinct = list(dict.fromkeys(tags))
    if len(distinct) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} distinct tags are allowed")
    return distinct


def _split_commas(value: object) -> object:
    # A query string carries tags as "a,b"; a repeated parameter (tags=a&tags=b) arrives as a list.
    if isinstance(value, str):
        return value.split(",")
    if isinstance(value, list):
        return [part for item in value for part in (item.split(",") if isinstance(item, str) else [item])]
    return value


# The validator comes last because it wraps what precedes it: it runs first, then the constraints.
Tag = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$"),
    BeforeValidator(_trimmed_lower_case),
]

Tags = Annotated[
    list[Tag],
    AfterValidator(_distinct_and_bounded),
    # Documented for clients; enforced by _distinct_and_bounded (duplicates count once).
    Field(json_schema_extra={"maxItems": MAX_TAGS}),
]
"""Tags as a JSON array."""

CommaSeparatedTags = Annotated[Tags, BeforeValidator(_split_commas)]
"""Tags as a query string value: ``tags=cat,Dog`` (or repeated ``tags=`` parameters)."""

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
# "...T10:00:00 02:00": a "+" sent unencoded in a query string arrives as a space.
_OFFSET_PLUS_DECODED_AS_SPACE = re.compile(r"(?P<datetime>.*T.*\d) (?P<offset>\d{2}:?\d{2})")


def _date_or_aware_datetime(value: object) -> object:
    """``YYYY-MM-DD`` stays a date (a whole UTC day); a datetime must say its offset and becomes UTC."""
    if not isinstance(value, str):
        return value
    value = _OFFSET_PLUS_DECODED_AS_SPACE.sub(r"\g<datetime>+\g<offset>", value)
    try:
        if _DATE_ONLY.fullmatch(value):
            return date.fromisoformat(value)
        if "T" not in value.upper():
            # fromisoformat would read "20260301" as a datetime; for a caller it is a bad date.
            raise ValueError(value)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("expected YYYY-MM-DD or an ISO-8601 datetime with a UTC offset") from None
    if moment.tzinfo is None:
        # A naive datetime is ambiguous: guessing a time zone would silently shift the range.
        raise ValueError("a datetime needs a UTC offset, e.g. 2026-03-01T10:00:00+02:00 or ...Z")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


DateOrDatetime = Annotated[date | datetime, BeforeValidator(_date_or_aware_datetime)]


class UploadFields(BaseModel):
    """The upload parameters as given in one place: the JSON body, or the query string."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Only in a body, and only to tell the caller it is refused (see Caller.acting_as) or,
    # with authentication off, who the owner is; the query string's is read with the identity.
    user_id: UserId | None = None
    tags: Tags | None = None
    description: Description | None = None
    content_type: ImageContentType | None = None
    visibility: Visibility | None = None


class UploadRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    # The owner: whoever uploads (Caller.owner_of_upload).
    user_id: UserId
    tags: Tags = Field(default_factory=list)
    description: Description | None = None
    content_type: ImageContentType = ImageContentType.JPEG
    visibility: Visibility = Visibility.PRIVATE

    @classmethod
    def from_sources(cls, *, query: UploadFields, body: UploadFields | None, owner: str) -> UploadRequest:
        """Combine the two places a client may put each field; a field must be in at most one.

        ``owner`` is the caller's id; a ``user_id`` field has been dealt with in ``Caller.acting_as``.
        """
        in_query = query.model_dump(exclude_none=True, exclude={"user_id"})
        in_body = body.model_dump(exclude_none=True, exclude={"user_id"}) if body is not None else {}
        for name in UploadFields.model_fields:
            if name in in_query and name in in_body:
                raise InvalidParameter(name, "given both in the query string and in the body; give it once")
        fields: dict[str, Any] = in_query | in_body
        return cls(**fields, user_id=owner)


class ImageEdit(BaseModel):
    """``PATCH /images/{image_id}``'s body: what to change, each field optional, at least one given.

    Validated exactly like the upload's fields. A field left out keeps its value; ``null`` is
    refused rather than guessed at: to clear the description, send ``""``; to drop every tag,
    ``[]``.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {"tags": ["cat", "garden"], "description": "Mia in the sun", "visibility": "public"},
                {"visibility": "private"},
            ]
        },
    )

    # SkipJsonSchema: null is refused (below), so the published schema does not offer it.
    tags: Tags | SkipJsonSchema[None] = None
    description: Description | SkipJsonSchema[None] = None
    visibility: Visibility | SkipJsonSchema[None] = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, value in data.items():
                if value is None and name in cls.model_fields:
                    raise ValueError(f"'{name}' must not be null; leave it out to keep it as it is")
        return data

    @model_validator(mode="after")
    def _changes_something(self) -> ImageEdit:
        if not self.model_fields_set:
            raise ValueError(f"give at least one of {', '.join(type(self).model_fields)}")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields given, by name."""
        return {name: getattr(self, name) for name in self.model_fields_set}


@dataclass(frozen=True)
class ListImagesQuery:
    """The list filters, each already valid on its own (see ``listing`` for their combination)."""

    # PUBLIC: everyone's public images; None: the caller's own.
    visibility: Visibility | None = None
    tag: str | None = None
    created_from: date | datetime | None = None
    created_to: date | datetime | None = None
    limit: int = DEFAULT_PAGE_SIZE
    cursor: str | None = None

    @property
    def public(self) -> bool:
        return self.visibility is Visibility.PUBLIC

    def listing(self, *, owner: str | None) -> Listing:
        """The one index partition and ``listed_at`` range that answer this query for ``owner``'s images.

        ``owner`` None: the public images when ``public``, else (authentication off) everyone's.
        """
        index = schema.index_for(user_id=owner, tag=self.tag, public=self.public)
        start = _start_of(self.created_from)
        end = _inclusive_end_of(self.created_to)
        if start is not None and end is not None and start > end:
            raise InvalidParameter("from", "must not be after 'to'")
        return Listing(
            index=index,
            partition_value=index.partition_value(user_id=owner, tag=self.tag),
            item_sort_key=schema.IMAGE_SORT_KEY if self.tag is None else schema.tag_sort_key(self.tag),
            listed_at_range=_listed_at_range(start, end),
        )


def _start_of(bound: date | datetime | None) -> datetime | None:
    if bound is None or isinstance(bound, datetime):  # datetimes are UTC already
        return bound
    return datetime.combine(bound, time.min, UTC)


def _inclusive_end_of(bound: date | datetime | None) -> datetime | None:
    # A date as the upper bound means the whole of that day.
    if bound is None or isinstance(bound, datetime):
        return bound
    return datetime.combine(bound, time.max, UTC)


# Sorts after every image id (lower-case hex), so "<timestamp>#~" is above every listed_at of
# that instant and an inclusive upper bound keeps images created exactly at the bound.
_AFTER_EVERY_IMAGE_ID = "~"


def _listed_at_range(start: datetime | None, end: datetime | None) -> tuple[str, str] | None:
    if start is None and end is None:
        return None
    lower = schema.listed_at(utc_timestamp(start or datetime.min.replace(tzinfo=UTC)), "")
    upper = schema.listed_at(utc_timestamp(end or datetime.max.replace(tzinfo=UTC)), _AFTER_EVERY_IMAGE_ID)
    return lower, upper


@dataclass(frozen=True)
class Listing:
    """What one list query reads: one partition of one sparse index, maybe narrowed by time."""

    index: ListIndex
    partition_value: str
    # Every item in this partition has this sort key: the image item, or the tag item of one tag.
    item_sort_key: str
    listed_at_range: tuple[str, str] | None


# What an owner may edit: an image on its way (pending; processing keeps the edit) or
# available. Rejected and failed images only wait to expire, and deleting ones to go.
EDITABLE_STATUSES: Final = frozenset({ImageStatus.PENDING, ImageStatus.AVAILABLE})


# --- answers ----------------------------------------------------------------------------------


class Reason(StrEnum):
    """Why an image is ``rejected`` (the first four) or ``failed`` (the last)."""

    UNSUPPORTED_FORMAT = "unsupported_format"
    CONTENT_TYPE_MISMATCH = "content_type_mismatch"
    CORRUPT = "corrupt"
    TOO_MANY_PIXELS = "too_many_pixels"
    PROCESSING_FAILED = "processing_failed"


class Image(BaseModel):
    """An image's metadata, as stored and as shown to callers.

    The facts (``width`` to ``duplicate_of``) are what processing found in the bytes of an
    ``available`` image; ``reason`` says why an image is ``rejected`` or ``failed``. The last
    three fields are bookkeeping, stored but never shown.
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
    size: int | None = None
    status: ImageStatus
    created_at: str
    # Records written before images had a visibility are private, as every upload was.
    visibility: Visibility = Visibility.PRIVATE
    width: int | None = None
    height: int | None = None
    # Pillow's name of the format found in the bytes: JPEG, PNG, GIF, WEBP, MPO, HEIF.
    format: str | None = None
    sha256: str | None = None
    frames: int | None = None
    exif_orientation: int | None = None
    # An earlier available image of the same user with an equal perceptual hash.
    duplicate_of: str | None = None
    reason: Reason | None = None
    # The sha256 of the upload the record describes, which names its original's and variants' keys.
    revision: str | None = Field(default=None, exclude=True)
    # 64-bit difference hash (16 hex digits) of the upright first frame.
    perceptual_hash: str | None = Field(default=None, exclude=True)
    # Epoch seconds after which the record counts as gone (schema.TTL_ATTRIBUTE, same name).
    expires_at: int | None = Field(default=None, exclude=True)
    # How many times the record was changed after its upload was requested (edits, outcomes,
    # deletion). Every such write is conditional on the version it read and raises it by one,
    # so two writers deciding from the same read can never both succeed: the loser reads again.
    version: int = Field(default=0, exclude=True)

    def edited(self, edit: ImageEdit) -> Image:
        """This image with an owner's edit applied: only the fields the edit gives change."""
        if self.status not in EDITABLE_STATUSES:
            raise ValueError(f"a {self.status.value} image cannot be edited")
        return self.model_copy(update=edit.changes())

    def expired(self, now: datetime) -> bool:
        """Whether the record's time is up; DynamoDB deletes such items only eventually."""
        return self.expires_at is not None and self.expires_at <= now.timestamp()

    @property
    def listed_at(self) -> str:
        return schema.listed_at(self.created_at, self.image_id)

    @property
    def upload_key(self) -> str:
        return schema.incoming_object_key(self.image_id)


class PresignedPost(BaseModel):
    url: str
    fields: dict[str, str]


class UploadGrant(BaseModel):
    """Where and how the client uploads the image it just registered."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "image_id": "3f2a9c0e8b1d4e6fa7c5b2d1e0f9a8b7",
                    "upload": {
                        "url": "https://images-bucket.s3.amazonaws.com/",
                        "fields": {
                            "Content-Type": "image/png",
                            "key": "incoming/3f2a9c0e8b1d4e6fa7c5b2d1e0f9a8b7",
                            "policy": "eyJleHBpcmF0aW9uIjogIi4uLiJ9",
                            "x-amz-algorithm": "AWS4-HMAC-SHA256",
                            "x-amz-credential": "AKIA.../20260301/eu-west-1/s3/aws4_request",
                            "x-amz-date": "20260301T120000Z",
                            "x-amz-signature": "0a1b2c...",
                        },
                    },
                    "expires_in": 900,
                }
            ]
        }
    )

    image_id: str
    upload: PresignedPost
    expires_in: int


class DownloadLink(BaseModel):
    """A presigned GET of the original or a variant, valid ``expires_in`` seconds."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://images-bucket.s3.amazonaws.com/originals/3f2a.../9f3c...?X-Amz-Signature=...",
                    "expires_in": 300,
                }
            ]
        }
    )

    url: str
    expires_in: int


class ImagePage(BaseModel):
    """One page of a listing; ``next_cursor`` asks for the next (null: this is the last)."""

    items: list[Image]
    next_cursor: str | None
