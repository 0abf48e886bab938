"""What the API answers besides an image itself (``image_core.image.Image``)."""

from __future__ import annotations

from pydantic import BaseModel

from image_core.image import Image
from image_core.storage import PresignedPost


class UploadGrant(BaseModel):
    """Where and how the client uploads the image it just registered."""

    image_id: str
    upload: PresignedPost
    expires_in: int


class DownloadLink(BaseModel):
    url: str
    expires_in: int


class ImagePage(BaseModel):
    items: list[Image]
    next_cursor: str | None
