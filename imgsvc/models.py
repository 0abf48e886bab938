"""What the API answers, as typed values (the JSON each came from is kept as ``data``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Variant(StrEnum):
    ORIGINAL = "original"
    PREVIEW = "preview"
    THUMBNAIL = "thumbnail"


class Visibility(StrEnum):
    PRIVATE = "private"
    PUBLIC = "public"


class Status(StrEnum):
    PENDING = "pending"
    AVAILABLE = "available"
    REJECTED = "rejected"
    FAILED = "failed"


@dataclass(frozen=True)
class Image:
    """An image record as ``GET /images/{id}`` shows it; the facts are None until it is available."""

    image_id: str
    user_id: str
    status: str
    visibility: str
    content_type: str
    created_at: str
    tags: tuple[str, ...] = ()
    description: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    sha256: str | None = None
    frames: int | None = None
    exif_orientation: int | None = None
    duplicate_of: str | None = None
    reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Image:
        return cls(
            image_id=str(data["image_id"]),
            user_id=str(data.get("user_id") or ""),
            status=str(data.get("status") or ""),
            visibility=str(data.get("visibility") or Visibility.PRIVATE),
            content_type=str(data.get("content_type") or ""),
            created_at=str(data.get("created_at") or ""),
            tags=tuple(data.get("tags") or ()),
            description=data.get("description"),
            size=data.get("size"),
            width=data.get("width"),
            height=data.get("height"),
            format=data.get("format"),
            sha256=data.get("sha256"),
            frames=data.get("frames"),
            exif_orientation=data.get("exif_orientation"),
            duplicate_of=data.get("duplicate_of"),
            reason=data.get("reason"),
            data=data,
        )

    @property
    def done(self) -> bool:
        """Processed: available, or refused for good (rejected, failed)."""
        return self.status != Status.PENDING


@dataclass(frozen=True)
class Page:
    """One page of a listing; ``next_cursor`` asks for the next one (None on the last)."""

    items: tuple[Image, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class UploadTicket:
    """What ``POST /images/upload`` hands out: the new image's id and its presigned POST."""

    image_id: str
    url: str
    fields: dict[str, str]
    expires_in: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UploadTicket:
        upload = data["upload"]
        return cls(
            image_id=str(data["image_id"]),
            url=str(upload["url"]),
            # Sent back exactly as given, as plain strings (tagging is XML).
            fields={str(name): str(value) for name, value in upload["fields"].items()},
            expires_in=int(data.get("expires_in") or 0),
        )
