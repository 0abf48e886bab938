"""The processing functions' collaborators, built on first use and kept for the warm container.

Both handlers call ``dependencies.upload_processor()``; tests replace it on this module.
"""

from __future__ import annotations

from functools import cache

import boto3
from botocore.config import Config

from image_core.repository import ImageRepository
from image_core.settings import get_settings
from image_core.storage import ImageStorage
from image_processing.upload_processor import UploadProcessor

# Standard mode retries throttling with backoff and a retry quota, unlike the legacy default.
_AWS_CONFIG = Config(retries={"mode": "standard"})


@cache
def upload_processor() -> UploadProcessor:
    settings = get_settings()
    return UploadProcessor(
        repository=ImageRepository(boto3.client("dynamodb", config=_AWS_CONFIG), settings.table_name),
        storage=ImageStorage(boto3.client("s3", config=_AWS_CONFIG), settings.bucket_name),
        settings=settings,
    )
