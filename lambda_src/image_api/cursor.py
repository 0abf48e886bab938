"""Pagination cursors: opaque to clients, checked before they reach DynamoDB.

A cursor is URL-safe base64 of JSON holding DynamoDB's ``LastEvaluatedKey`` and a
fingerprint of the query that produced it (index, partition, time range; not the page size,
which may change between pages). The key is resumed from as ``ExclusiveStartKey`` only if it
could have come from this very query, so a forged or stale cursor is a 400 and can never make
a query start outside the partition and range its filters name. Every part is bounded before
it is compared: the cursor's length, the number and length of its attributes, and the exact
shape of the one value no filter pins (``listed_at``), so nothing a client makes up can reach
DynamoDB (whose keys have a 1,024-byte limit).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from image_core import schema
from image_core.errors import InvalidParameter
from image_core.models import Listing, is_image_id

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


class _CursorPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    query: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
    key: Annotated[dict[_AttributeName, _AttributeValue], Field(max_length=_KEY_ATTRIBUTES)]


def encode_cursor(listing: Listing, last_evaluated_key: Mapping[str, str]) -> str:
    payload = _CursorPayload(version=1, query=_fingerprint(listing), key=dict(last_evaluated_key))
    return base64.urlsafe_b64encode(payload.model_dump_json().encode()).decode().rstrip("=")


def decode_cursor(cursor: str, listing: Listing) -> dict[str, str]:
    """The ``ExclusiveStartKey`` (string attributes) a cursor resumes from, once proven to fit ``listing``."""
    payload = _parse(cursor)
    if payload.query != _fingerprint(listing):
        raise InvalidParameter(CURSOR_PARAMETER, "was issued for a different query")
    _check_key_fits(payload.key, listing)
    return payload.key


def _parse(cursor: str) -> _CursorPayload:
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidParameter(CURSOR_PARAMETER, "is not a cursor this service issued")
    try:
        # validate=True: the lenient decoder would silently drop characters outside the alphabet.
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        return _CursorPayload.model_validate_json(raw)
    except ValueError:
        # Bad base64 (binascii.Error), non-ASCII text, and malformed JSON or a wrong shape
        # (pydantic's ValidationError) are all ValueErrors.
        raise InvalidParameter(CURSOR_PARAMETER, "is not a cursor this service issued") from None


def _fingerprint(listing: Listing) -> str:
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
    if not _LISTED_AT.fullmatch(listed_at):
        raise InvalidParameter(CURSOR_PARAMETER, "does not fit this query")
    _, _, image_id = listed_at.rpartition("#")
    if not is_image_id(image_id) or key[schema.PARTITION_KEY] != schema.image_partition(image_id):
        raise InvalidParameter(CURSOR_PARAMETER, "does not fit this query")
    if listing.listed_at_range is not None:
        lower, upper = listing.listed_at_range
        if not lower <= listed_at <= upper:
            raise InvalidParameter(CURSOR_PARAMETER, "lies outside the requested date range")
