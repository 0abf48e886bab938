"""The repository and storage on their AWS clients, configured alike for every function.

Both functions' wiring (``image_api.dependencies``, ``image_processing.dependencies``) builds
them here and keeps them for the warm container.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from image_core.repository import ImageRepository
from image_core.schema import MAX_LISTING_SHARDS
from image_core.settings import Settings
from image_core.storage import ImageStorage

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Standard mode retries throttling with backoff and a retry quota, unlike the legacy default.
_AWS_CONFIG = Config(retries={"mode": "standard"})
# A page of a sharded listing queries every shard and the unsharded partition at once: one
# connection each, rather than botocore's default pool of 10 (which would drop the rest).
_DYNAMODB_CONFIG = _AWS_CONFIG.merge(Config(max_pool_connections=MAX_LISTING_SHARDS + 1))


def image_repository(settings: Settings) -> ImageRepository:
    return ImageRepository(
        boto3.client("dynamodb", config=_DYNAMODB_CONFIG), settings.table_name, settings.listing_layout
    )


def image_storage(settings: Settings, *, presigning: S3Client | None = None) -> ImageStorage:
    """The bucket; ``presigning``, if given, signs the links clients use (``storage.presigning_client``)."""
    return ImageStorage(boto3.client("s3", config=_AWS_CONFIG), settings.bucket_name, presigning=presigning)
