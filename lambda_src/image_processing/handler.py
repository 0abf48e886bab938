"""S3 ObjectCreated under ``originals/``: mark the image available, or remove an orphan object.

S3 delivers events at least once and a client may upload again with the same presigned POST,
so handling an event twice rewrites the same facts. An exception fails the invocation and
Lambda's asynchronous retries deliver the event again.
"""

from __future__ import annotations

from functools import cache
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from image_core.repository import ImageRepository
from image_core.services import ImageService
from image_core.settings import get_settings
from image_core.storage import ImageStorage

logger = Logger()

# Standard mode retries throttling with backoff and a retry quota, unlike the legacy default.
_AWS_CONFIG = Config(retries={"mode": "standard"})


@cache
def image_service() -> ImageService:
    # Built on first use and kept for the warm container; tests replace this function.
    settings = get_settings()
    return ImageService(
        repository=ImageRepository(boto3.client("dynamodb", config=_AWS_CONFIG), settings.table_name),
        storage=ImageStorage(boto3.client("s3", config=_AWS_CONFIG), settings.bucket_name),
        settings=settings,
    )


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
        outcome = image_service().record_uploaded_object(key)
        logger.info("Processed uploaded object", key=key, outcome=outcome.value)
