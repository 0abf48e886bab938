"""Listing images: the one Query a list request makes, planned here and nowhere else.

The filters (``ListImagesQuery``) name exactly one partition of one sparse index, maybe
narrowed to a ``listed_at`` range (``Listing``); ``read_page`` runs that Query through the
repository and resumes it from a cursor. A partition spanning users (every user's public
images, by tag or not; with authentication off, everyone's) is sharded
(``schema.ListingLayout``): the repository queries its shards at once and merges them, and its
cursor is the position below which the next page starts in every shard. DynamoDB's keys stay
in this module: the use case hands over filters and gets images and an opaque cursor back.

Pagination cursors are opaque to clients and checked before they reach DynamoDB.
A cursor is URL-safe base64 of JSON holding a fingerprint of the query that produced it
(index, partition, time range; not the page size, which may change between pages) and where
the next page starts: for one partition, DynamoDB's ``LastEvaluatedKey`` (version 1); for a
sharded one, the ``listed_at`` of the last image shown (version 2: one value whatever the
number of shards, since ``listed_at`` orders every item totally). The position is resumed from
only if it could have come from this very query, so a forged or stale cursor is a 400 and can
never make a query start outside the partition and range its filters name. Every part is
bounded before it is compared: the cursor's length, the number and length of its attributes,
and the exact shape of the one value no filter pins (``listed_at``), so nothing a client makes
up can reach DynamoDB (whose keys have a 1,024-byte limit). A version 1 cursor of a partition
that is sharded now (issued before sharding) still resumes: its key's ``listed_at`` is the
position.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from image_api.parameters import DEFAULT_PAGE_SIZE
from image_core import schema
from image_core.clock import utc_timestamp
from image_core.errors import InvalidParameter
from image_core.image import Image, is_image_id
from image_core.repository import ImageRepository
from image_core.schema import ListIndex, Visibility

# --- the query -----------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class ListedImages:
    images: list[Image]
    # Where the next page starts; None when there is none.
    next_cursor: str | None


def read_page(repository: ImageRepository, query: ListImagesQuery, *, owner: str | None) -> ListedImages:
    """One page of ``query``'s images of ``owner`` (see ``ListImagesQuery.listing``), newest first."""
    listing = query.listing(owner=owner)
    if listing.index.sharded:
        return _read_merged_page(repository, query, listing)
    start_key = decode_cursor(query.cursor, listing) if query.cursor is not None else None
    page = repository.list_page(
        index=listing.index,
        partition_value=listing.partition_value,
        listed_at_range=listing.listed_at_range,
        limit=query.limit,
        start_key=start_key,
    )
    # A LastEvaluatedKey may lead to an empty last page; telling would cost another read.
    last_key = page.last_evaluated_key
    return ListedImages(
        images=page.images, next_cursor=encode_cursor(listing, last_key) if last_key is not None else None
    )


def _read_merged_page(repository: ImageRepository, query: ListImagesQuery, listing: Listing) -> ListedImages:
    """One page of a sharded partition: every shard queried at once, merged newest first."""
    below = decode_position(query.cursor, listing) if query.cursor is not None else None
    page = repository.list_merged_page(
        index=listing.index,
        partition_value=listing.partition_value,
        listed_at_range=listing.listed_at_range,
        limit=query.limit,
        below=below,
    )
    last = page.last_listed_at
    return ListedImages(images=page.images, next_cursor=encode_position(listing, last) if last else None)


# --- cursors -------------------------------------------------------------------------------------

CURSOR_PARAMETER = "cursor"
# A cursor this service issues is a few hundred characters: four key attributes, the longest
# an index partition of a user id (at most 128) and a tag (at most 64).
MAX_CURSOR_LENGTH: Final = 2048
_MAX_KEY_VALUE_LENGTH: Final = 512
_KEY_ATTRIBUTES: Final = 4
# listed_at is "<created_at>#<image id>", created_at as utc_timestamp writes it. Matched whole,
# on a value already bounded: no backtracking.
_LISTED_AT: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z#[0-9a-f]{32}")

_AttributeName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
_AttributeValue = Annotated[str, StringConstraints(min_length=1, max_length=_MAX_KEY_VALUE_LENGTH)]


_Fingerprint = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


class _CursorPayload(BaseModel):
    """Version 1: a single partition's ``LastEvaluatedKey``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    query: _Fingerprint
    key: Annotated[dict[_AttributeName, _AttributeValue], Field(max_length=_KEY_ATTRIBUTES)]


class _PositionPayload(BaseModel):
    """Version 2: a sharded partition's position, the ``listed_at`` the next page starts below."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[2]
    query: _Fingerprint
    below: _AttributeValue


_ANY_CURSOR: TypeAdapter[_CursorPayload | _PositionPayload] = TypeAdapter(
    Annotated[_CursorPayload | _PositionPayload, Field(discriminator="version")]
)


def encode_cursor(listing: Listing, last_evaluated_key: Mapping[str, str]) -> str:
    return _seal(_CursorPayload(version=1, query=_fingerprint(listing), key=dict(last_evaluated_key)))


def encode_position(listing: Listing, below: str) -> str:
    """The cursor of a sharded listing's next page: the images listed below ``below``, in every shard."""
    return _seal(_PositionPayload(version=2, query=_fingerprint(listing), below=below))


def _seal(payload: BaseModel) -> str:
    return base64.urlsafe_b64encode(payload.model_dump_json().encode()).decode().rstrip("=")


def decode_cursor(cursor: str, listing: Listing) -> dict[str, str]:
    """The ``ExclusiveStartKey`` (string attributes) a cursor resumes from, once proven to fit ``listing``."""
    payload = _parse(cursor, listing)
    if not isinstance(payload, _CursorPayload):
        raise InvalidParameter(CURSOR_PARAMETER, "does not fit this query")
    _check_key_fits(payload.key, listing)
    return payload.key


def decode_position(cursor: str, listing: Listing) -> str:
    """The ``listed_at`` a sharded listing's cursor resumes below, once proven to fit ``listing``.

    A version 1 cursor (issued for the partition before it was sharded) resumes below its key's item.
    """
    payload = _parse(cursor, listing)
    if isinstance(payload, _CursorPayload):
        _check_key_fits(payload.key, listing)
        return payload.key[schema.LISTED_AT]
    _check_position_fits(payload.below, listing)
    return payload.below


def _parse(cursor: str, listing: Listing) -> _CursorPayload | _PositionPayload:
    payload = _parse_any(cursor)
    if payload.query != _fingerprint(listing):
        raise InvalidParameter(CURSOR_PARAMETER, "was issued for a different query")
    return payload


def _parse_any(cursor: str) -> _CursorPayload | _PositionPayload:
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidParameter(CURSOR_PARAMETER, "is not a cursor this service issued")
    try:
        # validate=True: the lenient decoder would silently drop characters outside the alphabet.
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        return _ANY_CURSOR.validate_json(raw)
    except ValueError:
        # Bad base64 (binascii.Error), non-ASCII text, and malformed JSON or a wrong shape
        # (pydantic's ValidationError) are all ValueErrors.
        raise InvalidParameter(CURSOR_PARAMETER, "is not a cursor this service issued") from None


def _fingerprint(listing: Listing) -> str:
    # The same for a partition before and after it was sharded (its unsharded value): a cursor
    # issued before sharding stays bound to its query and resumes after.
    identity = [listing.index.name, listing.partition_value, listing.listed_at_range]
    return hashlib.sha256(json.dumps(identity, separators=(",", ":")).encode()).hexdigest()[:32]


def _check_key_fits(key: Mapping[str, str], listing: Listing) -> None:
    """Reject a key that names anything but an item of ``listing``'s partition and range.

    The fingerprint alone cannot prove that, since anyone can compute it; the key itself must
    have exactly the attributes DynamoDB returns for this index, with consistent values.
    """
    index_key = listing.index.partition_key
    if set(key) != {schema.PARTITION_KEY, schema.SORT_KEY, index_key, schema.LISTED_AT}:
        raise InvalidParameter(CURSOR_PARAMETER, "does not fit this query")
    if key[index_key] != listing.partition_value:
        raise InvalidParameter(CURSOR_PARAMETER, "does not fit this query")
    if key[schema.SORT_KEY] != listing.item_sort_key:
        raise InvalidParameter(CURSOR_PARAMETER, "does not fit this query")
    listed_at = key[schema.LISTED_AT]
    _check_position_fits(listed_at, listing)
    _, _, image_id = listed_at.rpartition("#")
    if key[schema.PARTITION_KEY] != schema.image_partition(image_id):
        raise InvalidParameter(CURSOR_PARAMETER, "does not fit this query")


def _check_position_fits(listed_at: str, listing: Listing) -> None:
    """Reject a ``listed_at`` that is not one this service writes, or lies outside ``listing``'s range."""
    if not _LISTED_AT.fullmatch(listed_at):
        raise InvalidParameter(CURSOR_PARAMETER, "does not fit this query")
    _, _, image_id = listed_at.rpartition("#")
    if not is_image_id(image_id):
        raise InvalidParameter(CURSOR_PARAMETER, "does not fit this query")
    if listing.listed_at_range is not None:
        lower, upper = listing.listed_at_range
        if not lower <= listed_at <= upper:
            raise InvalidParameter(CURSOR_PARAMETER, "lies outside the requested date range")
