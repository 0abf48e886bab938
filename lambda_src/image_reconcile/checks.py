"""What reconciliation looks for, one check per kind of debris, and how each is repaired.

Two kinds of check, each registered with a decorator so that adding one is writing a class:

* a **record check** looks at one image record of the table walk (``examine``) and says what
  is wrong with it, if anything;
* an **object check** looks at the objects of one image under one key prefix of the bucket
  walk, with that image's record read fresh, and says which of them nothing references.

Every check touches only what is older than the run's minimum age, so an upload being
processed right now (its record pending, its objects just written) is never taken for
debris. Every repair is the same idempotent step the service itself takes (finishing a
delete, deleting what nothing references, settling an expired record) and is conditional
where a concurrent request could change the answer, so running reconciliation twice, or
next to the service, is safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar, Final, Protocol

from image_core import schema
from image_core.errors import Conflict
from image_core.image import Image
from image_core.repository import ImageRepository
from image_core.schema import ImageStatus
from image_core.storage import ImageStorage, ObjectEntry

# A failed record stays readable this long, like processing's outcomes, then the TTL takes it.
FAILED_RECORD_RETENTION: Final = timedelta(days=7)


@dataclass(frozen=True)
class Finding:
    """One thing a check found: which image, what is wrong, and the objects concerned."""

    check: str
    image_id: str
    detail: str
    keys: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "check": self.check,
            "image_id": self.image_id,
            "detail": self.detail,
            "keys": list(self.keys),
        }


@dataclass(frozen=True)
class Context:
    """What every check works with during one run."""

    repository: ImageRepository
    storage: ImageStorage
    now: datetime
    min_age: timedelta

    def old_enough(self, moment: datetime) -> bool:
        return moment <= self.now - self.min_age

    @property
    def epoch_now(self) -> int:
        return int(self.now.timestamp())


class RecordCheck(Protocol):
    name: ClassVar[str]

    def examine(self, image: Image, context: Context) -> Finding | None: ...

    def repair(self, image: Image, context: Context) -> bool:
        """Repair what ``examine`` found in ``image``; False when it changed meanwhile (nothing done)."""
        ...


class ObjectCheck(Protocol):
    name: ClassVar[str]
    # The bucket prefix this check walks; its objects are keyed ``<prefix><image id>...``.
    prefix: ClassVar[str]

    def examine(
        self, image_id: str, objects: Sequence[ObjectEntry], record: Image | None, context: Context
    ) -> Finding | None: ...

    def repair(self, finding: Finding, context: Context) -> bool: ...


@dataclass
class Registry:
    record_checks: list[RecordCheck] = field(default_factory=list)
    object_checks: list[ObjectCheck] = field(default_factory=list)

    def names(self) -> list[str]:
        return [check.name for check in self.record_checks] + [check.name for check in self.object_checks]


CHECKS = Registry()


def record_check[C: RecordCheck](cls: type[C]) -> type[C]:
    CHECKS.record_checks.append(cls())
    return cls


def object_check[C: ObjectCheck](cls: type[C]) -> type[C]:
    CHECKS.object_checks.append(cls())
    return cls


def created(image: Image) -> datetime:
    return datetime.fromisoformat(image.created_at)


# --- records ----------------------------------------------------------------------------------


@record_check
class StuckDeleting:
    """A DELETE that failed part-way: the record is hidden (``deleting``) but still there.

    Repair finishes the delete with the very steps a DELETE takes (every object of the image,
    then the record), which a DELETE still running does too: both are idempotent. The record
    does not say when the delete began, so its age is its upload's.
    """

    name: ClassVar[str] = "stuck_deleting"

    def examine(self, image: Image, context: Context) -> Finding | None:
        if image.status is not ImageStatus.DELETING or not context.old_enough(created(image)):
            return None
        return Finding(self.name, image.image_id, "the record is marked deleting; its delete never finished")

    def repair(self, image: Image, context: Context) -> bool:
        context.storage.delete_image_objects(image.image_id)
        # Hiding removed them, unless the record was marked deleting some other way.
        context.repository.delete_tag_items(image)
        context.repository.delete_image_item(image.image_id)
        return True


@record_check
class MissingOriginal:
    """An available image whose accepted original is not in the bucket (removed behind the
    service's back): it is listed, but every download of it would fail.

    Repair marks it ``failed`` (reason ``original_missing``), which takes it out of every
    listing, and deletes its variants; conditional on the record being exactly as read (its
    revision and version), so a re-upload or an edit meanwhile wins. Processing writes the original before
    the record, so an available record without one is never a run in progress.
    """

    name: ClassVar[str] = "missing_original"

    def examine(self, image: Image, context: Context) -> Finding | None:
        if image.status is not ImageStatus.AVAILABLE or image.revision is None:
            return None
        key = schema.original_object_key(image.image_id, image.revision)
        if context.storage.current_etag(key) is not None:
            return None
        return Finding(self.name, image.image_id, "available, but its original is not in the bucket", (key,))

    def repair(self, image: Image, context: Context) -> bool:
        assert image.revision is not None
        failed = image.lost_original(expires_at=int((context.now + FAILED_RECORD_RETENTION).timestamp()))
        try:
            context.repository.mark_unavailable(failed, as_read=image, now=context.epoch_now)
        except Conflict:
            return False
        context.storage.delete_objects(schema.revision_object_keys(image.image_id, image.revision))
        return True


@record_check
class ExpiredRecord:
    """A record whose time is up (a pending upload whose bytes never came, a rejected or failed
    image past its retention) that DynamoDB's TTL has not deleted yet: it may take days.

    Reads treat it as gone already; repair deletes whatever objects it still has, then the
    record, conditional on its expiry (which nothing moves once passed). Records being
    deleted are ``stuck_deleting``'s.
    """

    name: ClassVar[str] = "expired_record"

    def examine(self, image: Image, context: Context) -> Finding | None:
        if image.status is ImageStatus.DELETING or image.expires_at is None:
            return None
        if not context.old_enough(datetime.fromtimestamp(image.expires_at, context.now.tzinfo)):
            return None
        return Finding(self.name, image.image_id, f"{image.status.value}, expired at {image.expires_at}")

    def repair(self, image: Image, context: Context) -> bool:
        context.storage.delete_image_objects(image.image_id)
        return context.repository.delete_expired_image_item(image.image_id, now=context.epoch_now)


# --- objects ----------------------------------------------------------------------------------


def live(record: Image | None, context: Context) -> bool:
    """Whether a record owns objects: it exists and its time is not up. A record being deleted
    is ``stuck_deleting``'s to finish, so the object checks leave its objects alone."""
    return record is not None and not record.expired(context.now)


class _Unreferenced:
    """Objects under ``prefix`` of an image that nothing references any more, old enough to go."""

    name: ClassVar[str]
    prefix: ClassVar[str]
    what: ClassVar[str]

    def referenced(self, key: str, record: Image) -> bool:
        raise NotImplementedError

    def examine(
        self, image_id: str, objects: Sequence[ObjectEntry], record: Image | None, context: Context
    ) -> Finding | None:
        if record is not None and record.status is ImageStatus.DELETING:
            return None
        owner = record if record is not None and live(record, context) else None
        debris = tuple(
            entry.key
            for entry in objects
            if context.old_enough(entry.last_modified)
            and (owner is None or not self.referenced(entry.key, owner))
        )
        if not debris:
            return None
        whose = "no live record" if owner is None else "a record that names other bytes"
        return Finding(self.name, image_id, f"{len(debris)} {self.what} of {whose}", debris)

    def repair(self, finding: Finding, context: Context) -> bool:
        context.storage.delete_objects(finding.keys)
        return True


@object_check
class UnreferencedUploads(_Unreferenced):
    """Uploads under ``incoming/`` without a live record (processing deletes such an upload
    when its event comes; this catches those whose event never did). An upload of a live
    record is processing's, or the lifecycle rule's after a day."""

    name: ClassVar[str] = "upload_without_record"
    prefix: ClassVar[str] = schema.INCOMING_PREFIX
    what: ClassVar[str] = "upload(s)"

    def referenced(self, _key: str, _record: Image) -> bool:
        return True


class _OfRevision(_Unreferenced):
    """Objects keyed ``<prefix><id>/<revision>...``: referenced only by an available record of
    that revision (a rejected, failed or pending image has none)."""

    def referenced(self, key: str, record: Image) -> bool:
        revision = key.removeprefix(self.prefix).split("/")[1:2]
        return record.status is ImageStatus.AVAILABLE and revision == [record.revision]


@object_check
class UnreferencedOriginals(_OfRevision):
    name: ClassVar[str] = "original_without_record"
    prefix: ClassVar[str] = schema.ORIGINALS_PREFIX
    what: ClassVar[str] = "original(s)"


@object_check
class UnreferencedVariants(_OfRevision):
    name: ClassVar[str] = "variant_without_image"
    prefix: ClassVar[str] = schema.VARIANTS_PREFIX
    what: ClassVar[str] = "variant(s)"
