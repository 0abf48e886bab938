"""Finishing an upload: verify its bytes, record the outcome, keep the bucket in step with the table.

S3 delivers ObjectCreated at least once, possibly late and out of order, and a client may post
again through the same presigned POST until it expires. Processing therefore always works on
the object *as it is now* (the event only says where to look) and keys every decision on that
object's ETag, the upload's ``revision``:

* The outcome is written conditionally on the record still describing the revision it was
  read with (``ImageRepository.mark_available``/``mark_unavailable``). Of two runs deciding
  from the same read, one write wins; the other reads again and sees either its own
  revision (a duplicated event: done), or bytes that are no longer current (superseded:
  it removes what it wrote), or the same bytes still current (it writes again).
* Variants are stored under their revision, so runs for different uploads never overwrite
  each other's, and a duplicated run writes the very same objects.
* An event whose revision is already recorded does nothing at all.

A failure (an exception) fails the invocation; Lambda retries it, and after the last retry
sends the event to the dead-letter queue and to ``record_failure`` (``failures.handler``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from image_core import schema
from image_core.clock import utc_now
from image_core.errors import ChangedSinceRead, Conflict, NotFound
from image_core.models import Image, Reason, is_image_id
from image_core.repository import ImageRepository
from image_core.schema import ImageStatus
from image_core.settings import Settings
from image_core.storage import ImageStorage, StoredObject
from image_processing.imaging import Accepted, Rejected, inspect_upload

# Rejected and failed records stay readable this long, so a client learns why; their bytes
# are deleted at once. Then the table's TTL removes them.
OUTCOME_RETENTION: Final = timedelta(days=7)
# Conditional writes lost to concurrent runs before giving up (and failing the invocation,
# which Lambda retries).
_WRITE_ATTEMPTS: Final = 3


class ProcessingOutcome(StrEnum):
    AVAILABLE = "available"
    REJECTED = "rejected"
    FAILED = "failed"
    # This upload's outcome was recorded already (a duplicated or retried event).
    ALREADY_PROCESSED = "already_processed"
    # Newer bytes replaced these while they were processed; their own event decides.
    SUPERSEDED = "superseded"
    # No live record owns the object (never registered, expired, or being deleted).
    ORPHAN_DELETED = "orphan_deleted"
    # The object is gone already (deleted since the event was sent).
    OBJECT_GONE = "object_gone"
    # Not under the originals prefix.
    IGNORED = "ignored"


@dataclass(frozen=True)
class Processed:
    """What processing one object did, for the log."""

    outcome: ProcessingOutcome
    detail: str = ""


class InjectedFaultError(RuntimeError):
    """The deliberate failure of test stages (``PROCESSING_FAULT_TAG``), to prove the failure path."""


@dataclass(frozen=True)
class _Written:
    # The revision the record described before this write.
    previous_revision: str | None


class UploadProcessor:
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

    def process_upload(self, key: str, *, event_etag: str | None) -> Processed:
        """Verify the object under ``key`` and record what it is; idempotent for every event of it."""
        if not key.startswith(schema.ORIGINALS_PREFIX):
            return Processed(ProcessingOutcome.IGNORED)
        image_id = key.removeprefix(schema.ORIGINALS_PREFIX)
        image = self._live_record(image_id)
        if image is None:
            self._delete_orphan(key, image_id)
            return Processed(ProcessingOutcome.ORPHAN_DELETED)
        if event_etag and self._already_decided(key, image, event_etag):
            return Processed(ProcessingOutcome.ALREADY_PROCESSED)
        fault_tag = self._settings.processing_fault_tag
        if fault_tag is not None and fault_tag in image.tags:
            raise InjectedFaultError(f"processing fails on purpose for images tagged {fault_tag!r}")
        try:
            upload = self._storage.read_object(key)
        except NotFound:
            return Processed(ProcessingOutcome.OBJECT_GONE)
        if self._already_decided(key, image, upload.etag):
            # The event named other bytes; the current ones are decided already.
            return Processed(ProcessingOutcome.ALREADY_PROCESSED)
        result = inspect_upload(
            upload.data, declared=image.content_type, max_pixels=self._settings.max_image_pixels
        )
        if isinstance(result, Rejected):
            return self._reject(key, image, upload, result)
        return self._accept(key, image, upload, result)

    def record_failure(self, key: str, *, event_etag: str | None) -> Processed:
        """The event for ``key`` failed every attempt: mark its image failed and delete its bytes.

        Unless the failure no longer matters: the upload was recorded after all, newer bytes
        replaced it (their own event decides about them), or no live record owns it.
        """
        if not key.startswith(schema.ORIGINALS_PREFIX):
            return Processed(ProcessingOutcome.IGNORED)
        image_id = key.removeprefix(schema.ORIGINALS_PREFIX)
        image = self._live_record(image_id)
        if image is None:
            self._delete_orphan(key, image_id)
            return Processed(ProcessingOutcome.ORPHAN_DELETED)
        if event_etag and image.revision == event_etag and image.status is not ImageStatus.FAILED:
            # Recorded after all (say the last attempt wrote, then timed out). A failed one is
            # failed again: the same bytes may have been posted again and failed again.
            return Processed(ProcessingOutcome.ALREADY_PROCESSED)
        current_etag = self._storage.current_etag(key)
        if event_etag and current_etag is not None and current_etag != event_etag:
            return Processed(ProcessingOutcome.SUPERSEDED)
        revision = event_etag or current_etag
        written = self._write(
            key,
            image,
            revision,
            lambda current: self._repository.mark_unavailable(
                current.model_copy(
                    update={
                        "status": ImageStatus.FAILED,
                        "reason": Reason.PROCESSING_FAILED,
                        "revision": revision,
                        "expires_at": self._outcome_expiry(),
                    }
                ),
                as_read=current,
                now=self._now(),
            ),
        )
        if not isinstance(written, _Written):
            return Processed(written)
        if revision is not None:
            self._storage.delete_object_if_unchanged(key, revision)
        # The failed attempts may have stored variants before failing; a failed image has none.
        self._delete_variants(image_id, written.previous_revision, revision)
        return Processed(ProcessingOutcome.FAILED)

    def _accept(self, key: str, image: Image, upload: StoredObject, accepted: Accepted) -> Processed:
        facts = accepted.facts
        # Variants first, so an image is never available without them; then the tag that
        # exempts the original from the lifecycle rule for unverified uploads. Both are
        # idempotent, so a retry after a failed record write simply redoes them.
        for variant, data in accepted.variants.items():
            self._storage.put_variant(schema.variant_object_key(image.image_id, upload.etag, variant), data)
        self._storage.mark_verified(key)
        duplicate_of = self._repository.find_duplicate(
            user_id=image.user_id, perceptual_hash=facts.perceptual_hash, excluding=image.image_id
        )
        outcome: dict[str, object] = {
            "status": ImageStatus.AVAILABLE,
            "revision": upload.etag,
            "size": facts.size,
            "width": facts.width,
            "height": facts.height,
            "format": facts.format,
            "sha256": facts.sha256,
            "frames": facts.frames,
            "exif_orientation": facts.exif_orientation,
            "perceptual_hash": facts.perceptual_hash,
            "duplicate_of": duplicate_of,
            "reason": None,
            "expires_at": None,
        }
        written = self._write(
            key,
            image,
            upload.etag,
            # From the record as last read: an owner's edit of a pending image carries through.
            lambda current: self._repository.mark_available(
                current.model_copy(update=outcome), as_read=current, now=self._now()
            ),
        )
        if written is ProcessingOutcome.SUPERSEDED:
            # Nothing will ever point at the variants of bytes that are no longer current.
            self._delete_variants(image.image_id, upload.etag)
        if not isinstance(written, _Written):
            return Processed(written)
        self._delete_variants(image.image_id, written.previous_revision, keep=upload.etag)
        return Processed(ProcessingOutcome.AVAILABLE, f"{facts.format} {facts.width}x{facts.height}")

    def _reject(self, key: str, image: Image, upload: StoredObject, rejected: Rejected) -> Processed:
        outcome = {
            "status": ImageStatus.REJECTED,
            "reason": rejected.reason,
            "revision": upload.etag,
            "expires_at": self._outcome_expiry(),
        }
        written = self._write(
            key,
            image,
            upload.etag,
            lambda current: self._repository.mark_unavailable(
                current.model_copy(update=outcome), as_read=current, now=self._now()
            ),
        )
        if not isinstance(written, _Written):
            return Processed(written)
        self._storage.delete_object_if_unchanged(key, upload.etag)
        # A rejected re-upload also ends the variants of the upload it replaced.
        self._delete_variants(image.image_id, written.previous_revision)
        return Processed(ProcessingOutcome.REJECTED, f"{rejected.reason.value}: {rejected.detail}")

    def _already_decided(self, key: str, image: Image, etag: str) -> bool:
        """Whether the upload ``etag`` needs no processing: the record already says what it is.

        The same refused bytes posted again are refused again without looking at them twice
        (and deleted again). Bytes whose processing failed get another chance: the failure may
        have been passing, and posting them again is how a client retries.
        """
        if image.revision != etag or image.status is ImageStatus.FAILED:
            return False
        if image.status is ImageStatus.REJECTED:
            self._storage.delete_object_if_unchanged(key, etag)
        return True

    def _write(
        self,
        key: str,
        image: Image,
        revision: str | None,
        write: Callable[[Image], None],
    ) -> _Written | ProcessingOutcome:
        """Write the outcome for ``revision`` conditionally on the record as read; re-read after losing.

        ``write`` gets the record as last read, to build the outcome from (so that what an
        owner's edit changed meanwhile is kept) and to condition the write on.
        """
        current = image
        for _ in range(_WRITE_ATTEMPTS):
            try:
                write(current)
            except ChangedSinceRead:
                latest = self._live_record(image.image_id)
                if latest is None:
                    self._delete_orphan(key, image.image_id)
                    return ProcessingOutcome.ORPHAN_DELETED
                if latest.revision == revision:
                    return ProcessingOutcome.ALREADY_PROCESSED
                if self._storage.current_etag(key) != revision:
                    return ProcessingOutcome.SUPERSEDED
                current = latest
            else:
                return _Written(previous_revision=current.revision)
        raise Conflict(f"image {image.image_id} kept changing while it was processed")

    def _delete_variants(self, image_id: str, *revisions: str | None, keep: str | None = None) -> None:
        keys = [
            schema.variant_object_key(image_id, revision, variant)
            for revision in dict.fromkeys(revisions)
            if revision is not None and revision != keep
            for variant in schema.DERIVED_VARIANTS
        ]
        if keys:
            self._storage.delete_objects(keys)

    def _delete_orphan(self, key: str, image_id: str) -> None:
        """No live record owns ``key``: remove it and anything derived from it."""
        self._storage.delete_object(key)
        if is_image_id(image_id):
            self._storage.delete_all_variants(image_id)

    def _live_record(self, image_id: str) -> Image | None:
        """The image record, unless there is none, it is being deleted, or its time is up."""
        image = self._repository.get(image_id) if is_image_id(image_id) else None
        if image is None or image.status is ImageStatus.DELETING or image.expired(self._clock()):
            return None
        return image

    def _now(self) -> int:
        return int(self._clock().timestamp())

    def _outcome_expiry(self) -> int:
        return int((self._clock() + OUTCOME_RETENTION).timestamp())
