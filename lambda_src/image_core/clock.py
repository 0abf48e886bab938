"""The time every function reads (one clock, which tests move) and the way records write it."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_timestamp(moment: datetime) -> str:
    """ISO-8601 in UTC with microseconds and ``Z``: fixed width, so text order is time order.

    ``isoformat`` rather than ``strftime`` because it zero-pads years before 1000 too, which
    matters for the far-past bounds of a date range.
    """
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
