"""S3 ObjectCreated under ``incoming/``: verify the upload and record what it is (``service``).

S3 delivers events at least once and a client may upload again with the same presigned POST;
processing is idempotent per upload (see ``image_processing.upload_processor``). An exception fails
the invocation: Lambda retries it, then hands the event to the dead-letter queue and to
``image_processing.failures``.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from image_core.settings import get_settings
from image_processing import dependencies
from image_processing.s3_events import objects_in_bucket

logger = Logger()


@logger.inject_lambda_context
@event_source(data_class=S3Event)
def handler(event: S3Event, _context: LambdaContext) -> None:
    for notified in objects_in_bucket(event, get_settings().bucket_name):
        # The event's ETag is not needed: processing reads the object as it is now.
        processed = dependencies.upload_processor().process_upload(notified.key)
        logger.info(
            "Processed uploaded object",
            key=notified.key,
            outcome=processed.outcome.value,
            detail=processed.detail,
        )
