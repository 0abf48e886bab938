"""The processing functions' collaborators, built on first use and kept for the warm container.

Both handlers call ``dependencies.upload_processor()``; tests replace it on this module.
"""

from __future__ import annotations

from functools import cache

from image_core.clients import image_repository, image_storage
from image_core.settings import get_settings
from image_processing.upload_processor import UploadProcessor


@cache
def upload_processor() -> UploadProcessor:
    settings = get_settings()
    return UploadProcessor(
        repository=image_repository(settings),
        storage=image_storage(settings),
        settings=settings,
    )
