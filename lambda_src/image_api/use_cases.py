"""The API's use cases, in the order of an image's life: upload, read, list, edit, delete.

Each takes validated input, talks to the table and the bucket only through the injected
repository and storage, and raises domain errors (``image_core.errors``) for the caller.
Reads and deletes take the ``Caller``: an image the caller may not see is answered exactly
like one that does not exist, so that ids of other users' private images reveal nothing.
What happens in between, when the bytes arrive, is ``image_processing.upload_processor``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from time import monotonic, sleep
from typing import Final

from image_api.identity import Caller
from image_api.listing import ListImagesQuery, read_page
from image_api.parameters import ImageEdit, UploadRequest
from image_api.responses import DownloadLink, ImagePage, ListedImage, UploadGrant
from image_core import schema
from image_core.clock import utc_timestamp
from image_core.errors import ChangedSinceRead, Conflict, Forbidden, NotFound
from image_core.image import EDITABLE_STATUSES, Image, is_image_id
from image_core.schema import ImageStatus, Variant
from image_core.use_case import UseCase

# Conditional writes lost to concurrent writers (edits, processing, a delete) before answering
# 409: each attempt reads the record again and decides anew, so only a record that keeps
# changing under a burst of writes gets that far.
WRITE_ATTEMPTS: Final = 5
# A writer that lost pauses a random while before reading again (full jitter, doubling from
# the base up to the cap), so that writers racing for one record spread out rather than all
# read, all write, and all but one lose again at once.
RETRY_PAUSE_BASE_SECONDS: Final = 0.025
RETRY_PAUSE_CAP_SECONDS: Final = 0.4
# No attempt starts after this long: however slow each attempt is, the 409 that says to retry
# comes well within the API functions' 10 s timeout, rather than the timeout's 502.
RETRY_BUDGET_SECONDS: Final = 4.0


class ImageService(UseCase):
    def request_upload(self, request: UploadRequest, *, request_id: str | None = None) -> UploadGrant:
        """Register a pending image and grant a presigned POST for exactly its object.

        The record expires a grace period after the POST does, unless its bytes make it
        available first: then an upload whose bytes never come leaves nothing behind. It keeps
        ``request_id`` (the API request's), under which processing logs what it decided.
        """
        now = self._clock()
        window = timedelta(seconds=self._settings.upload_url_expires_seconds)
        grace = timedelta(seconds=self._settings.pending_grace_seconds)
        image = Image.registered(
            user_id=request.user_id,
            tags=request.tags,
            description=request.description,
            content_type=request.content_type,
            visibility=request.visibility,
            created_at=utc_timestamp(now),
            expires_at=int((now + window + grace).timestamp()),
            request_id=request_id,
        )
        # Presigning is local and cannot half-fail, so it goes first: the record is written
        # only when the whole answer can be given.
        upload = self._storage.presigned_upload(
            image.upload_key,
            content_type=image.content_type,
            max_bytes=self._settings.max_upload_bytes,
            expires_in=self._settings.upload_url_expires_seconds,
        )
        self._repository.create_pending(image)
        return UploadGrant(
            image_id=image.image_id, upload=upload, expires_in=self._settings.upload_url_expires_seconds
        )

    def get_image(self, image_id: str, caller: Caller) -> Image:
        return caller.view_of(self._visible_image(image_id, caller))

    def download_link(
        self, image_id: str, caller: Caller, variant: Variant = Variant.ORIGINAL
    ) -> DownloadLink:
        """A link to the original or one of its variants, for any caller who may see the image."""
        image = self._visible_image(image_id, caller)
        if image.status is not ImageStatus.AVAILABLE or image.revision is None:
            raise Conflict(f"the image is {image.status.value}, not available")
        # Keyed by the revision the record describes: the bytes processing accepted, never an
        # upload still waiting under the incoming prefix.
        key = (
            schema.original_object_key(image_id, image.revision)
            if variant is Variant.ORIGINAL
            else schema.variant_object_key(image_id, image.revision, variant)
        )
        expires_in = self._settings.download_url_expires_seconds
        url = self._storage.presigned_download(key, expires_in=expires_in)
        return DownloadLink(url=url, expires_in=expires_in)

    def list_images(
        self, query: ListImagesQuery, caller: Caller, *, thumbnail_urls: bool = False
    ) -> ImagePage:
        """The caller's own images, or with ``visibility=public`` every user's public ones.

        With ``thumbnail_urls``, each listed image carries a presigned GET of its thumbnail, so a
        gallery shows a page with one API call rather than one per image. Presigning is local
        (no request to S3), and every listed image is available, so each has a thumbnail.
        """
        page = read_page(self._repository, query, owner=caller.images_to_list(public=query.public))
        items = [
            ListedImage(
                **dict(caller.view_of(image)),
                thumbnail_url=self._thumbnail_url(image) if thumbnail_urls else None,
            )
            for image in page.images
        ]
        return ImagePage(items=items, next_cursor=page.next_cursor)

    def _thumbnail_url(self, image: Image) -> str | None:
        if image.status is not ImageStatus.AVAILABLE or image.revision is None:
            return None
        key = schema.variant_object_key(image.image_id, image.revision, Variant.THUMBNAIL)
        return self._storage.presigned_download(key, expires_in=self._settings.download_url_expires_seconds)

    def edit_image(self, image_id: str, caller: Caller, edit: ImageEdit) -> Image:
        """Change an image's tags, description or visibility (only those ``edit`` gives), for its owner.

        Found and refused like a delete: an image the caller may not see is not found, another
        user's public one is forbidden. A pending or available image may be edited; a pending
        one keeps the edit when processing makes it available (processing builds the outcome
        from the record it reads, and its write fails if an edit came after that read, so it
        reads again). Every other state is a conflict. The write is conditional on the record
        as read; losing to another writer means reading again and applying the same edit to
        what is there now, so concurrent edits of different fields both stay.
        """
        for _ in _write_attempts():
            image = self._owned_image(image_id, caller, action="edit")
            if image.status not in EDITABLE_STATUSES:
                raise Conflict(
                    f"the image is {image.status.value}; only pending or available images can be edited"
                )
            edited = image.edited(**edit.changes())
            if edited == image:
                return caller.view_of(image)  # nothing changes: nothing to write
            try:
                self._repository.save_edit(edited, as_read=image, now=int(self._clock().timestamp()))
            except ChangedSinceRead:
                continue
            return caller.view_of(edited)
        raise Conflict("the image kept changing while it was edited; retry")

    def delete_image(self, image_id: str, caller: Caller) -> None:
        """Delete the image, its tag items, its object and variants, in an order a retry can always finish.

        Hide (status ``deleting``, out of every index) -> delete its upload, every original and
        every variant -> delete the record last. If any step fails the record is still there, marked
        ``deleting``, so the same DELETE repeated (by its owner) completes the job and nothing
        is left orphaned. Another user's image is not found, or, if public and so visible to
        them, forbidden.
        """
        for _ in _write_attempts():
            image = self._owned_image(image_id, caller, action="delete")
            try:
                # Conditional on the version read: the tag items deleted with it are then all there are.
                self._repository.hide_for_deletion(image)
            except ChangedSinceRead:
                continue
            break
        else:
            raise Conflict("the image kept changing while it was deleted; retry")
        self._storage.delete_image_objects(image_id)
        self._repository.delete_image_item(image_id)

    def _owned_image(self, image_id: str, caller: Caller, *, action: str) -> Image:
        """The image, for its owner to change, in any state (deleting included: a delete that
        stopped part-way is finished by the next one).

        Unless it does not exist or has expired, or the caller may not see it (not found);
        another user's image that the caller can see is forbidden.
        """
        image = self._repository.get(image_id) if is_image_id(image_id) else None
        if (
            image is None
            or image.expired(self._clock())
            or not (caller.may_change(image) or caller.may_see(image))
        ):
            raise NotFound("image not found")
        if not caller.may_change(image):
            raise Forbidden(f"only the image's owner may {action} it")
        return image

    def _visible_image(self, image_id: str, caller: Caller) -> Image:
        """The image, unless it does not exist, is being deleted or has expired (all gone for
        callers), or is not the caller's to see."""
        # An id this service could not have issued cannot exist: answer without a read.
        image = self._repository.get(image_id) if is_image_id(image_id) else None
        if (
            image is None
            or image.status is ImageStatus.DELETING
            or image.expired(self._clock())
            or not caller.may_see(image)
        ):
            raise NotFound("image not found")
        return image


def _write_attempts() -> Iterator[int]:
    """The attempts of a conditional write that may lose to concurrent writers: up to
    ``WRITE_ATTEMPTS``, each after a random pause, none started past ``RETRY_BUDGET_SECONDS``."""
    started = monotonic()
    for attempt in range(WRITE_ATTEMPTS):
        if attempt:
            if monotonic() - started >= RETRY_BUDGET_SECONDS:
                return
            sleep(random.uniform(0, min(RETRY_PAUSE_CAP_SECONDS, RETRY_PAUSE_BASE_SECONDS * 2**attempt)))
        yield attempt
