"""What both functions' use cases work with (``ImageService``, ``UploadProcessor``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from image_core.clock import utc_now
from image_core.repository import ImageRepository
from image_core.settings import Settings
from image_core.storage import ImageStorage


class UseCase:
    """The table and the bucket, reached only through the injected repository and storage, the
    settings, and the clock (tests move it)."""

    def __init__(
        self,
        *,
        repository: ImageRepository,
        storage: ImageStorage,
        settings: Settings,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._repository = repository
        self._storage = storage
        self._settings = settings
        self._clock = clock
