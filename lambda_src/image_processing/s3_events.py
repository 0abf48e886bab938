"""The objects an S3 notification names, as both processing handlers read them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import S3Event

logger = Logger()


@dataclass(frozen=True)
class NotifiedObject:
    key: str
    # The ETag the event names (unquoted, as events carry it), or None if it names none.
    etag: str | None


def objects_in_bucket(event: S3Event, bucket_name: str) -> Iterator[NotifiedObject]:
    """The objects of ``bucket_name`` the event names; any other bucket's are logged and skipped."""
    for record in event.records:
        # S3 URL-encodes keys in events ("a b!" arrives as "a+b%21"); the per-record accessor
        # returns them as sent (only S3Event.object_key decodes, and only the first record's).
        key = unquote_plus(record.s3.get_object.key)
        if record.s3.bucket.name != bucket_name:
            logger.warning("Ignoring an object of another bucket", bucket=record.s3.bucket.name, key=key)
            continue
        yield NotifiedObject(key=key, etag=record.s3.get_object.etag or None)
