"""The reconciliation function's collaborators, built on first use and kept for the warm container."""

from __future__ import annotations

from functools import cache

import boto3
from botocore.config import Config

from image_core.repository import ImageRepository
from image_core.services import utc_now
from image_core.storage import ImageStorage
from image_reconcile.reconciler import Limits, Reconciler
from image_reconcile.settings import get_settings

# Standard mode retries throttling with backoff and a retry quota, unlike the legacy default.
_AWS_CONFIG = Config(retries={"mode": "standard"})


@cache
def reconciler() -> Reconciler:
    settings = get_settings()
    return Reconciler(
        repository=ImageRepository(boto3.client("dynamodb", config=_AWS_CONFIG), settings.table_name),
        storage=ImageStorage(boto3.client("s3", config=_AWS_CONFIG), settings.bucket_name),
        clock=utc_now,
        limits=Limits(
            max_records=settings.max_items, max_objects=settings.max_items, max_repairs=settings.max_repairs
        ),
    )
