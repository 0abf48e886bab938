"""The API functions' collaborators, built on first use and kept for the warm container.

Routes receive the service through Powertools' ``Depends(image_service)``; tests swap it
with ``app.dependency_overrides[image_service]``.
"""

from __future__ import annotations

from functools import cache

import boto3
from botocore.config import Config

from image_core.repository import ImageRepository
from image_core.services import ImageService
from image_core.settings import get_settings
from image_core.storage import ImageStorage, presigning_client

# Standard mode retries throttling with backoff and a retry quota, unlike the legacy default.
_AWS_CONFIG = Config(retries={"mode": "standard"})


@cache
def image_service() -> ImageService:
    # Clients are created here, lazily, rather than at import: importing the handler module
    # stays cheap and free of AWS calls, and a container creates each client once.
    settings = get_settings()
    return ImageService(
        repository=ImageRepository(boto3.client("dynamodb", config=_AWS_CONFIG), settings.table_name),
        storage=ImageStorage(
            boto3.client("s3", config=_AWS_CONFIG),
            settings.bucket_name,
            presigning=presigning_client(settings.s3_public_endpoint),
        ),
        settings=settings,
    )
