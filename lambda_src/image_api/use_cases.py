"""The API's use cases, in the order of an image's life: upload, read, list, delete.

Each takes validated input, talks to the table and the bucket only through the injected
repository and storage, and raises domain errors (``image_core.errors``) for the caller.
Reads and deletes take the ``Caller``: an image the caller may not see is answered exactly
like one that does not exist, so that ids of other users' private images reveal nothing.
What happens in between, when the bytes arrive, is ``image_processing.upload_processor``.
"""

from __future__ import annotations

from datetime import timedelta

from image_api.identity import Caller
from image_api.listing import ListImagesQuery, read_page
from image_api.parameters import UploadRequest
from image_api.responses import DownloadLink, ImagePage, UploadGrant
from image_core import schema
from image_core.clock import utc_timestamp
from image_core.errors import Conflict, Forbidden, NotFound
from image_core.image import Image, is_image_id
from image_core.schema import ImageStatus, Variant
from image_core.use_case import UseCase


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

    def list_images(self, query: ListImagesQuery, caller: Caller) -> ImagePage:
        """The caller's own images, or with ``visibility=public`` every user's public ones."""
        page = read_page(self._repository, query, owner=caller.images_to_list(public=query.public))
        return ImagePage(items=[caller.view_of(image) for image in page.images], next_cursor=page.next_cursor)

    def delete_image(self, image_id: str, caller: Caller) -> None:
        """Delete the image, its tag items, its object and variants, in an order a retry can always finish.

        Hide (status ``deleting``, out of every index) -> delete its upload, every original and
        every variant -> delete the record last. If any step fails the record is still there, marked
        ``deleting``, so the same DELETE repeated (by its owner) completes the job and nothing
        is left orphaned. Another user's image is not found, or, if public and so visible to
        them, forbidden.
        """
        image = self._repository.get(image_id) if is_image_id(image_id) else None
        if (
            image is None
            or image.expired(self._clock())
            or not (caller.may_delete(image) or caller.may_see(image))
        ):
            raise NotFound("image not found")
        if not caller.may_delete(image):
            raise Forbidden("only the image's owner may delete it")
        self._repository.hide_for_deletion(image)
        self._storage.delete_image_objects(image_id)
        self._repository.delete_image_item(image_id)

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
