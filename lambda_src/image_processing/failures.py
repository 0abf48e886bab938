"""The processing function's on-failure destination: an upload whose processing failed for good.

Lambda invokes this (asynchronously) with a destination record once an S3 event has failed
every attempt of the processing function, timeouts and crashes included, so the record
becomes ``failed`` whatever went wrong. The same event also lands in the dead-letter queue,
where it stays for inspection and redrive. Should this function fail too, Lambda retries it
and then puts its own destination record into that queue, so nothing is lost.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.typing import LambdaContext

from image_core.settings import get_settings
from image_core.telemetry import count, traced
from image_processing import dependencies
from image_processing.s3_events import objects_in_bucket
from image_processing.upload_processor import ProcessingOutcome

logger = Logger()


@traced
@logger.inject_lambda_context
def handler(event: dict[str, Any], _context: LambdaContext) -> None:
    logger.set_correlation_id(None)  # not the previous failure's, whose id a warm logger holds
    context = event.get("requestContext", {})
    failure = event.get("responsePayload") or {}
    logger.warning(
        "Processing failed for good",
        condition=context.get("condition"),
        attempts=context.get("approximateInvokeCount"),
        error_type=failure.get("errorType"),
        error=failure.get("errorMessage"),
    )
    for notified in objects_in_bucket(S3Event(event["requestPayload"]), get_settings().bucket_name):
        processed = dependencies.upload_processor().record_failure(notified.key, event_etag=notified.etag)
        logger.set_correlation_id(processed.request_id)
        logger.info("Recorded a processing failure", key=notified.key, outcome=processed.outcome.value)
        if processed.outcome is ProcessingOutcome.FAILED:
            count("ImagesFailed", correlation_id=processed.request_id)
