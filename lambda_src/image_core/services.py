"""The use cases, in the order of an image's life: upload, process, read, list, delete.

Each takes validated input, talks to the table and the bucket only through the injected
repository and storage, and raises domain errors (``image_core.errors``) for the caller.
Reads and deletes take the ``Caller``: an image the caller may not see is answered exactly
like one that does not exist, so that ids of other users' private images reveal nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum

from image_core import schema
from image_core.cursor import decode_cursor, encode_cursor
from image_core.errors import Conflict, Forbidden, NotFound
from image_core.identity import Caller
from image_core.models import (
    DownloadLink,
    Image,
    ImagePage,
    ListImagesQuery,
    UploadGrant,
    UploadRequest,
    is_image_id,
    new_image_id,
    utc_timestamp,
)
from image_core.repository import ImageRepository
from image_core.schema import ImageStatus
from image_core.settings import Settings
from image_core.storage import ImageStorage


class UploadOutcome(StrEnum):
    """What processing an uploaded object did, for the log."""

    MARKED_AVAILABLE = "marked_available"
    ORPHAN_DELETED = "orphan_deleted"
    OBJECT_GONE = "object_gone"
    IGNORED = "ignored"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ImageService:
    def __init__(
        self,
        *,
        repository: ImageRepository,
        storage: ImageStorage,
        settings: Settings,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._repository = repository
        self._storage = storage
        self._settings = settings
        self._clock = clock

    def request_upload(self, request: UploadRequest) -> UploadGrant:
        """Register a pending image and grant a presigned POST for exactly its object."""
        image = Image(
            image_id=new_image_id(),
            user_id=request.user_id,
            tags=request.tags,
            description=request.description,
            content_type=request.content_type,
            visibility=request.visibility,
            status=ImageStatus.PENDING,
            created_at=utc_timestamp(self._clock()),
        )
        # Presigning is local and cannot half-fail, so it goes first: the record is written
        # only when the whole answer can be given.
        upload = self._storage.presigned_upload(
            image.object_key,
            content_type=image.content_type,
            max_bytes=self._settings.max_upload_bytes,
            expires_in=self._settings.upload_url_expires_seconds,
        )
        self._repository.create_pending(image)
        return UploadGrant(
            image_id=image.image_id, upload=upload, expires_in=self._settings.upload_url_expires_seconds
        )

    def record_uploaded_object(self, key: str) -> UploadOutcome:
        """React to an object created in the bucket (S3 delivers at least once, so this is idempotent).

        An object nobody registered, or whose image is being deleted, is removed so that no
        object outlives its record.
        """
        if not key.startswith(schema.ORIGINALS_PREFIX):
            return UploadOutcome.IGNORED
        image_id = key.removeprefix(schema.ORIGINALS_PREFIX)
        image = self._repository.get(image_id) if is_image_id(image_id) else None
        if image is None or image.status is ImageStatus.DELETING:
            self._storage.delete_object(key)
            return UploadOutcome.ORPHAN_DELETED
        try:
            size = self._storage.object_size(key)
        except NotFound:
            # Deleted since the event was sent (e.g. by a DELETE); nothing left to describe.
            return UploadOutcome.OBJECT_GONE
        try:
            self._repository.mark_available(image, size)
        except NotFound:
            # The record was deleted or began deleting after we read it.
            self._storage.delete_object(key)
            return UploadOutcome.ORPHAN_DELETED
        return UploadOutcome.MARKED_AVAILABLE

    def get_image(self, image_id: str, caller: Caller) -> Image:
        return self._visible_image(image_id, caller)

    def download_link(self, image_id: str, caller: Caller) -> DownloadLink:
        image = self._visible_image(image_id, caller)
        if image.status is not ImageStatus.AVAILABLE:
            raise Conflict("the image has not been uploaded yet")
        expires_in = self._settings.download_url_expires_seconds
        url = self._storage.presigned_download(image.object_key, expires_in=expires_in)
        return DownloadLink(url=url, expires_in=expires_in)

    def list_images(self, query: ListImagesQuery, caller: Caller) -> ImagePage:
        """The caller's own images, or with ``visibility=public`` every user's public ones."""
        listing = query.listing(owner=caller.images_to_list(public=query.public))
        start_key = decode_cursor(query.cursor, listing) if query.cursor is not None else None
        page = self._repository.list_page(listing, limit=query.limit, start_key=start_key)
        # A LastEvaluatedKey may lead to an empty last page; telling would cost another read.
        next_cursor = (
            encode_cursor(listing, page.last_evaluated_key) if page.last_evaluated_key is not None else None
        )
        return ImagePage(items=page.images, next_cursor=next_cursor)

    def delete_image(self, image_id: str, caller: Caller) -> None:
        """Delete the image, its tag items and its object, in an order a retry can always finish.

        Hide (status ``deleting``, out of every index) -> delete the object -> delete the record
        last. If any step fails the record is still there, marked ``deleting``, so the same
        DELETE repeated (by its owner) completes the job and nothing is left orphaned.
        Another user's image is not found, or, if public and so visible to them, forbidden.
        """
        image = self._repository.get(image_id) if is_image_id(image_id) else None
        if image is None or not (caller.may_delete(image) or caller.may_see(image)):
            raise NotFound("image not found")
        if not caller.may_delete(image):
            raise Forbidden("only the image's owner may delete it")
        self._repository.hide_for_deletion(image)
        self._storage.delete_object(image.object_key)
        self._repository.delete_image_item(image_id)

    def _visible_image(self, image_id: str, caller: Caller) -> Image:
        """The image, unless it does not exist, is being deleted (which callers see as gone), or
        is not the caller's to see."""
        # An id this service could not have issued cannot exist: answer without a read.
        image = self._repository.get(image_id) if is_image_id(image_id) else None
        if image is None or image.status is ImageStatus.DELETING or not caller.may_see(image):
            raise NotFound("image not found")
        return image
