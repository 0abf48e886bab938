"""What the API accepts: its parameters' types and rules, and the query string's quirks.

The constrained types are used by the routes' parameter declarations (Powertools validates
query strings and bodies against them) and by the request models, so every entry point
enforces one rule per field. A query string brings its own quirks: tags arrive comma-separated
(or as repeated parameters), and a "+" sent unencoded arrives as a space.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from image_core.errors import InvalidParameter
from image_core.image import ImageContentType
from image_core.schema import Visibility

MAX_TAGS: Final = 20
MAX_TAG_LENGTH: Final = 64
DEFAULT_PAGE_SIZE: Final = 20
MAX_PAGE_SIZE: Final = 100
MAX_DESCRIPTION_LENGTH: Final = 1000
# Bounds on the raw values, checked before anything is parsed, so that no request value can
# cost more than its few characters are worth. Tags are counted once duplicates are gone
# (MAX_TAGS); the raw list and the comma-separated text get room for repeats and spaces.
MAX_TAG_ENTRIES: Final = 100
MAX_TAGS_TEXT_LENGTH: Final = 2000
# "2026-03-01T10:00:00.123456+02:00" is 32 characters.
MAX_DATE_LENGTH: Final = 64


UserId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._@-]+$")]

Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_LENGTH)]


def _trimmed_lower_case_tag(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _distinct_tags_bounded(tags: list[str]) -> list[str]:
    # Counted after removing duplicates: "a,A, a" is one tag, not three.
    distinct = list(dict.fromkeys(tags))
    if len(distinct) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} distinct tags are allowed")
    return distinct


def _tags_split_at_commas(value: object) -> object:
    # A query string carries tags as "a,b"; a repeated parameter (tags=a&tags=b) arrives as a list.
    texts = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    if sum(len(text) for text in texts if isinstance(text, str)) > MAX_TAGS_TEXT_LENGTH:
        raise ValueError(f"at most {MAX_TAGS_TEXT_LENGTH} characters")
    if isinstance(value, str):
        return value.split(",")
    if isinstance(value, list):
        return [part for item in value for part in (item.split(",") if isinstance(item, str) else [item])]
    return value


# The validator comes last because it wraps what precedes it: it runs first, then the constraints.
Tag = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TAG_LENGTH, pattern=r"^[a-z0-9_-]+$"),
    BeforeValidator(_trimmed_lower_case_tag),
    # The contract says what is accepted, before the tag is trimmed and lower-cased (" Cats ").
    WithJsonSchema(
        {
            "type": "string",
            "pattern": rf"^\s*[A-Za-z0-9_-]{{1,{MAX_TAG_LENGTH}}}\s*$",
            "description": f"1-{MAX_TAG_LENGTH} of a-z 0-9 - _, case-insensitive (stored lower-cased)",
        }
    ),
]

# The raw list is bounded first (pydantic stops at the first entry too many), the distinct
# tags after validation.
Tags = Annotated[list[Tag], Field(max_length=MAX_TAG_ENTRIES), AfterValidator(_distinct_tags_bounded)]
"""Tags as a JSON array."""

CommaSeparatedTags = Annotated[Tags, BeforeValidator(_tags_split_at_commas)]
"""Tags as a query string value: ``tags=cat,Dog`` (or repeated ``tags=`` parameters)."""

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
_UTC_OFFSET = re.compile(r"\d{2}:?\d{2}")


def _date_or_utc_datetime_from_text(value: object) -> object:
    """``YYYY-MM-DD`` stays a date (a whole UTC day); a datetime must say its offset and becomes UTC.

    The length is bounded before anything else, and what follows parses with fixed patterns
    matched whole and ``fromisoformat``: nothing here can backtrack, whatever the input.
    """
    if not isinstance(value, str):
        return value
    if len(value) > MAX_DATE_LENGTH:
        raise ValueError(f"at most {MAX_DATE_LENGTH} characters: YYYY-MM-DD or an ISO-8601 datetime")
    value = _plus_decoded_as_space_restored(value)
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


def _plus_decoded_as_space_restored(value: str) -> str:
    """``...T10:00:00 02:00`` -> ``...T10:00:00+02:00``: a "+" sent unencoded in a query string
    arrives as a space."""
    moment, space, offset = value.rpartition(" ")
    if space and "T" in moment and moment[-1:].isdigit() and _UTC_OFFSET.fullmatch(offset):
        return f"{moment}+{offset}"
    return value


DateOrDatetime = Annotated[
    date | datetime,
    BeforeValidator(_date_or_utc_datetime_from_text),
    # The contract names the bound: a string, not the union pydantic would describe.
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": MAX_DATE_LENGTH,
            "description": "YYYY-MM-DD (a whole UTC day) or an ISO-8601 datetime with a UTC offset",
        }
    ),
]


class UploadFields(BaseModel):
    """The upload parameters as given in one place: the JSON body, or the query string."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Only in a body, and only to tell the caller it is refused (see Caller.acting_as) or,
    # with authentication off, who the owner is; the query string's is read with the identity.
    # Not in the contract: with a token, who you are comes from the token alone.
    user_id: SkipJsonSchema[UserId | None] = None
    tags: Tags | None = None
    description: Description | None = None
    content_type: ImageContentType | None = None
    visibility: Visibility | None = None


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
            # at least one field (``_changes_something``)
            "minProperties": 1,
            "examples": [
                {"tags": ["cat", "garden"], "description": "Mia in the sun", "visibility": "public"},
                {"visibility": "private"},
            ],
        },
    )

    # SkipJsonSchema: null is refused (below), so the published schema does not offer it.
    tags: Tags | SkipJsonSchema[None] = Field(
        default=None,
        description=f"Replace the tags: lower-cased, at most {MAX_TAGS} distinct (duplicates count once), "
        f"each 1-{MAX_TAG_LENGTH} of a-z 0-9 - _; [] removes every tag.",
    )
    description: Description | SkipJsonSchema[None] = Field(
        default=None, description=f'At most {MAX_DESCRIPTION_LENGTH} characters; "" clears it.'
    )
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
