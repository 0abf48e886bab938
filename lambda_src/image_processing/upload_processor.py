"""Finishing an upload: verify its bytes, record the outcome, keep the bucket in step with the table.

Clients upload to the image's *incoming* key, a quarantine that only processing reads; only
processing writes the originals that downloads serve. The invariant: **an original processing
accepted is never deleted by the lifecycle backstop (which expires the incoming prefix only),
and bytes processing has not accepted are never served** (downloads presign the original of
the record's revision, which processing copies there only after verifying those very bytes).

S3 delivers ObjectCreated at least once, possibly late and out of order, and a client may post
again through the same presigned POST until it expires. Processing therefore always works on
the incoming object *as it is now* (the event only says where to look) and keys every decision
on the sha256 of its bytes, the upload's ``revision``:

* An accepted upload: variants under its revision, a server-side copy of exactly the object
  that was read (``CopySourceIfMatch`` on its ETag) to its revision's original, the record
  written, the previous revision's objects deleted, and the incoming object deleted last. A
  crash anywhere leaves the incoming object in place, so the retried event repeats or finishes
  the same idempotent steps.
* The outcome is written conditionally on the record still describing the revision it was
  read with (``ImageRepository.mark_available``/``mark_unavailable``). Of two runs deciding
  from the same read, one write wins; the other reads again and sees either its own
  revision (a duplicated event: done), or an incoming object that is no longer the one it read
  (superseded: it removes what it wrote), or its bytes still current (it writes again).
* Originals and variants are stored under their revision, so runs for different uploads never
  overwrite each other's, and a duplicated run writes the very same objects.
* Bytes whose revision is already recorded (the same bytes posted again) are not looked at
  twice: the run only finishes the clean-up and deletes the incoming object.

A failure (an exception) fails the invocation; Lambda retries it, and after the last retry
sends the event to the dead-letter queue and to ``record_failure`` (``failures.handler``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum
from typing import Final

from image_core import schema
from image_core.errors import ChangedSinceRead, Conflict, NotFound
from image_core.image import Image, Reason, is_image_id
from image_core.schema import ImageStatus
from image_core.use_case import UseCase
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
    # The incoming object is gone already (processed or deleted since the event was sent).
    OBJECT_GONE = "object_gone"
    # Not under the incoming prefix.
    IGNORED = "ignored"


@dataclass(frozen=True)
class Processed:
    """What processing one object did, for the log and the metrics."""

    outcome: ProcessingOutcome
    detail: str = ""
    # Why it was rejected (REJECTED only).
    reason: Reason | None = None
    # The bytes looked at (AVAILABLE and REJECTED: the upload's size).
    size: int | None = None
    # The earlier image it duplicates, if it does (AVAILABLE only).
    duplicate_of: str | None = None
    # The API request that registered the image (its record's), to log the outcome under.
    request_id: str | None = None


class InjectedFaultError(RuntimeError):
    """The deliberate failure of test stages (``PROCESSING_FAULT_TAG``), to prove the failure path."""


@dataclass(frozen=True)
class _Upload:
    """The incoming object as processing read it."""

    key: str
    image_id: str
    data: bytes
    etag: str
    # The sha256 of ``data``: the revision recorded for it, naming its original and variants.
    revision: str


@dataclass(frozen=True)
class _Written:
    # The revision the record described before this write.
    previous_revision: str | None


class UploadProcessor(UseCase):
    def process_upload(self, key: str) -> Processed:
        """Verify the incoming object ``key`` and record what it is; idempotent for every event of it."""
        image = self._owner_of(key)
        if isinstance(image, Processed):
            return image
        return replace(self._process(image, key), request_id=image.request_id)

    def record_failure(self, key: str, *, event_etag: str | None) -> Processed:
        """The event for ``key`` failed every attempt: mark its image failed and delete its bytes.

        Unless the failure no longer matters: the incoming object is gone (a run finished with
        it after all, or the image was deleted), newer bytes replaced it (their own event decides
        about them), its bytes are recorded already, or no live record owns it.
        """
        image = self._owner_of(key)
        if isinstance(image, Processed):
            return image
        return replace(self._record_failure(image, key, event_etag), request_id=image.request_id)

    def _process(self, image: Image, key: str) -> Processed:
        image_id = image.image_id
        fault_tag = self._settings.processing_fault_tag
        if fault_tag is not None and fault_tag in image.tags:
            raise InjectedFaultError(f"processing fails on purpose for images tagged {fault_tag!r}")
        upload = self._read_upload(key, image_id)
        if upload is None:
            return Processed(ProcessingOutcome.OBJECT_GONE)
        if self._already_decided(image, upload):
            return Processed(ProcessingOutcome.ALREADY_PROCESSED)
        result = inspect_upload(
            upload.data, declared=image.content_type, max_pixels=self._settings.max_image_pixels
        )
        if isinstance(result, Rejected):
            return self._reject(image, upload, result)
        return self._accept(image, upload, result)

    def _record_failure(self, image: Image, key: str, event_etag: str | None) -> Processed:
        image_id = image.image_id
        current_etag = self._storage.current_etag(key)
        if current_etag is None:
            return Processed(ProcessingOutcome.OBJECT_GONE)
        if event_etag and current_etag != event_etag:
            return Processed(ProcessingOutcome.SUPERSEDED)
        upload = self._read_upload(key, image_id)
        if upload is None:
            return Processed(ProcessingOutcome.OBJECT_GONE)
        if self._already_decided(image, upload):
            # Recorded after all (say the last attempt wrote, then timed out): finished now.
            return Processed(ProcessingOutcome.ALREADY_PROCESSED)
        expires_at = self._outcome_expiry()
        written = self._write(
            image, upload, lambda record: record.failed(revision=upload.revision, expires_at=expires_at)
        )
        if not isinstance(written, _Written):
            return Processed(written)
        # A failed image has no bytes: neither what the failed attempts may have stored under
        # this revision nor the original it replaced.
        self._delete_revisions(image_id, upload.revision, written.previous_revision)
        self._storage.delete_object_if_unchanged(key, upload.etag)
        return Processed(ProcessingOutcome.FAILED)

    def _owner_of(self, key: str) -> Image | Processed:
        """The live record that owns the incoming object ``key``, or what was done instead: nothing
        for a key outside the incoming prefix, deletion for an object no live record owns."""
        image_id = _image_id_of(key)
        if image_id is None:
            return Processed(ProcessingOutcome.IGNORED)
        image = self._live_record(image_id)
        if image is None:
            self._delete_orphan(key, image_id)
            return Processed(ProcessingOutcome.ORPHAN_DELETED)
        return image

    def _accept(self, image: Image, upload: _Upload, accepted: Accepted) -> Processed:
        facts = accepted.facts
        # Variants and the original first, so an image is never available without them. Only
        # the very object that was verified is copied: if the incoming object changed since it
        # was read, nothing is copied and these bytes are not recorded.
        for variant, data in accepted.variants.items():
            key = schema.variant_object_key(image.image_id, upload.revision, variant)
            self._storage.put_variant(key, data)
        original = schema.original_object_key(image.image_id, upload.revision)
        if not self._storage.copy_if_unchanged(upload.key, upload.etag, original):
            return self._lost_upload(image.image_id, upload)
        # inspect_upload finds every fact of the bytes it accepts (made_available checks them all).
        assert facts.perceptual_hash is not None
        duplicate_of = self._repository.find_duplicate(
            user_id=image.user_id, perceptual_hash=facts.perceptual_hash, excluding=image.image_id
        )
        written = self._write(
            image,
            upload,
            lambda record: record.made_available(
                revision=upload.revision, facts=facts, duplicate_of=duplicate_of
            ),
        )
        if written is ProcessingOutcome.SUPERSEDED:
            # Nothing will ever point at the objects of bytes that are no longer current.
            self._delete_revisions(image.image_id, upload.revision)
        if not isinstance(written, _Written):
            return Processed(written)
        self._finish(upload, written.previous_revision)
        return Processed(
            ProcessingOutcome.AVAILABLE,
            f"{facts.format} {facts.width}x{facts.height}",
            size=len(upload.data),
            duplicate_of=duplicate_of,
        )

    def _reject(self, image: Image, upload: _Upload, rejected: Rejected) -> Processed:
        expires_at = self._outcome_expiry()
        written = self._write(
            image,
            upload,
            lambda record: record.refused(
                revision=upload.revision, reason=rejected.reason, expires_at=expires_at
            ),
        )
        if not isinstance(written, _Written):
            return Processed(written)
        # A rejected re-upload also ends the original and variants of the upload it replaced.
        self._finish(upload, written.previous_revision)
        return Processed(
            ProcessingOutcome.REJECTED,
            f"{rejected.reason.value}: {rejected.detail}",
            reason=rejected.reason,
            size=len(upload.data),
        )

    def _finish(self, upload: _Upload, previous_revision: str | None) -> None:
        """After the record was written: the replaced revision's objects go, then the upload itself.

        The incoming object goes last, so that a crash before leaves it there for the retried
        event, which finds its revision recorded and finishes (``_already_decided``).
        """
        if previous_revision != upload.revision:
            self._delete_revisions(upload.image_id, previous_revision)
        self._storage.delete_object_if_unchanged(upload.key, upload.etag)

    def _already_decided(self, image: Image, upload: _Upload) -> bool:
        """Whether ``upload`` needs no processing: the record already says what these bytes are.

        Then this run finishes what the run that recorded them may not have (it may have
        crashed after writing the record): every other revision's original and variants go,
        then the incoming object. The same bytes posted again are so just deleted again,
        accepted or refused, without looking at them twice. Bytes whose processing failed get
        another chance: the failure may have been passing, and posting them again is how a
        client retries.
        """
        decided = image.status in (ImageStatus.AVAILABLE, ImageStatus.REJECTED)
        if image.revision != upload.revision or not decided:
            return False
        # Listed, not named by the record: the revision a crashed run replaced is known to nobody
        # now. Only while the incoming object is still these bytes: a newer upload's run may be
        # storing its own revision, which is not this run's to judge.
        # (Refused bytes never had an original or variants, so this leaves a rejected image none.)
        if self._storage.current_etag(upload.key) == upload.etag:
            self._storage.delete_revisions_except(image.image_id, upload.revision)
            self._storage.delete_object_if_unchanged(upload.key, upload.etag)
        return True

    def _lost_upload(self, image_id: str, upload: _Upload) -> Processed:
        """The incoming object was replaced or deleted after this run read it: it records nothing."""
        latest = self._live_record(image_id)
        if latest is None:
            self._delete_orphan(upload.key, image_id)
            return Processed(ProcessingOutcome.ORPHAN_DELETED)
        if latest.revision == upload.revision:
            # A run for the same bytes (a duplicated event) recorded them and removed the upload.
            return Processed(ProcessingOutcome.ALREADY_PROCESSED)
        self._delete_revisions(image_id, upload.revision)
        return Processed(ProcessingOutcome.SUPERSEDED)

    def _write(
        self, image: Image, upload: _Upload, transition: Callable[[Image], Image]
    ) -> _Written | ProcessingOutcome:
        """Write the outcome for ``upload`` (``transition`` of the record) conditionally on the record
        as read; re-read after losing.

        The outcome is made from the record as last read, so that what an owner's edit changed
        meanwhile (tags, description, visibility of a pending image) is kept, and its write
        fails if anything wrote the record since that read.
        """
        current = image
        for _ in range(_WRITE_ATTEMPTS):
            outcome = transition(current)
            write = (
                self._repository.mark_available
                if outcome.status is ImageStatus.AVAILABLE
                else self._repository.mark_unavailable
            )
            try:
                write(outcome, as_read=current, now=self._now())
            except ChangedSinceRead:
                latest = self._live_record(image.image_id)
                if latest is None:
                    self._delete_orphan(upload.key, image.image_id)
                    return ProcessingOutcome.ORPHAN_DELETED
                if latest.revision == upload.revision:
                    return ProcessingOutcome.ALREADY_PROCESSED
                if self._storage.current_etag(upload.key) != upload.etag:
                    return ProcessingOutcome.SUPERSEDED
                current = latest
            else:
                return _Written(previous_revision=current.revision)
        raise Conflict(f"image {image.image_id} kept changing while it was processed")

    def _read_upload(self, key: str, image_id: str) -> _Upload | None:
        """The incoming object as it is now, or None if it is gone."""
        try:
            stored = self._storage.read_object(key)
        except NotFound:
            return None
        revision = hashlib.sha256(stored.data).hexdigest()
        return _Upload(key=key, image_id=image_id, data=stored.data, etag=stored.etag, revision=revision)

    def _delete_revisions(self, image_id: str, *revisions: str | None) -> None:
        """Delete the original and variants of each of these revisions (missing ones are fine)."""
        keys = [
            key
            for revision in dict.fromkeys(revisions)
            if revision is not None
            for key in schema.revision_object_keys(image_id, revision)
        ]
        if keys:
            self._storage.delete_objects(keys)

    def _delete_orphan(self, key: str, image_id: str) -> None:
        """No live record owns ``key``: remove it and anything stored for its image."""
        if is_image_id(image_id):
            self._storage.delete_image_objects(image_id)
        else:
            self._storage.delete_object(key)

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


def _image_id_of(key: str) -> str | None:
    """The image an incoming object belongs to, or None for a key outside the incoming prefix."""
    if not key.startswith(schema.INCOMING_PREFIX):
        return None
    return key.removeprefix(schema.INCOMING_PREFIX)
