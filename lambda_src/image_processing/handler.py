"""S3 ObjectCreated under ``originals/``: verify the upload and record what it is (``service``).

S3 delivers events at least once and a client may upload again with the same presigned POST;
processing is idempotent per upload (see ``image_processing.upload_processor``). An exception fails
the invocation: Lambda retries it, then hands the event to the dead-letter queue and to
``image_processing.failures``.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from image_core.settings import get_settings
from image_processing import dependencies

logger = Logger()


@logger.inject_lambda_context
@event_source(data_class=S3Event)
def handler(event: S3Event, _context: LambdaContext) -> None:
    bucket_name = get_settings().bucket_name
    for record in event.records:
        # S3 URL-encodes keys in events ("a b!" arrives as "a+b%21"); the per-record accessor
        # returns them as sent (only S3Event.object_key decodes, and only the first record's).
        key = unquote_plus(record.s3.get_object.key)
        if record.s3.bucket.name != bucket_name:
            logger.warning("Ignoring an object of another bucket", bucket=record.s3.bucket.name, key=key)
            continue
        processed = dependencies.upload_processor().process_upload(
            key, event_etag=record.s3.get_object.etag or None
        )
        logger.info(
            "Processed uploaded object", key=key, outcome=processed.outcome.value, detail=processed.detail
        )
