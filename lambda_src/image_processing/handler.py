"""S3 ObjectCreated under ``incoming/``: verify the upload and record what it is (``service``).

S3 delivers events at least once and a client may upload again with the same presigned POST;
processing is idempotent per upload (see ``image_processing.upload_processor``). An exception fails
the invocation: Lambda retries it, then hands the event to the dead-letter queue and to
``image_processing.failures``.
"""

from __future__ import annotations

import time

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from image_core.settings import get_settings
from image_core.telemetry import MetricUnit, count, traced
from image_processing import dependencies
from image_processing.s3_events import objects_in_bucket
from image_processing.upload_processor import Processed, ProcessingOutcome

logger = Logger()


@traced
@logger.inject_lambda_context
@event_source(data_class=S3Event)
def handler(event: S3Event, _context: LambdaContext) -> None:
    for notified in objects_in_bucket(event, get_settings().bucket_name):
        # Not the previous upload's, whose id a warm logger still holds.
        logger.set_correlation_id(None)
        started = time.perf_counter()
        # The event's ETag is not needed: processing reads the object as it is now.
        processed = dependencies.upload_processor().process_upload(notified.key)
        # The upload request's id, so that one id finds the request and what became of its bytes.
        logger.set_correlation_id(processed.request_id)
        logger.info(
            "Processed uploaded object",
            key=notified.key,
            outcome=processed.outcome.value,
            detail=processed.detail,
        )
        publish_metrics(processed, seconds=time.perf_counter() - started)


def publish_metrics(processed: Processed, *, seconds: float) -> None:
    """What became of an upload: available (with its bytes and a duplicate hint), or rejected by
    reason; and how long deciding took (only for uploads looked at)."""
    request_id = processed.request_id
    if processed.outcome is ProcessingOutcome.AVAILABLE:
        count("ImagesAvailable", correlation_id=request_id)
        if processed.duplicate_of is not None:
            count("DuplicateHints", correlation_id=request_id)
    elif processed.outcome is ProcessingOutcome.REJECTED and processed.reason is not None:
        count("ImagesRejected", correlation_id=request_id, reason=processed.reason.value)
    if processed.size is not None:
        count("ProcessedBytes", processed.size, unit=MetricUnit.Bytes, correlation_id=request_id)
        milliseconds = round(seconds * 1000, 3)
        count("ProcessingDuration", milliseconds, unit=MetricUnit.Milliseconds, correlation_id=request_id)
