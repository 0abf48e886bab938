"""What the API answers besides an image itself (``image_core.image.Image``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from image_core.image import Image
from image_core.storage import PresignedPost


class UploadGrant(BaseModel):
    """Where and how the client uploads the image it just registered."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "image_id": "3f2a9c0e8b1d4e6fa7c5b2d1e0f9a8b7",
                    "upload": {
                        "url": "https://images-bucket.s3.amazonaws.com/",
                        "fields": {
                            "Content-Type": "image/png",
                            "key": "incoming/3f2a9c0e8b1d4e6fa7c5b2d1e0f9a8b7",
                            "policy": "eyJleHBpcmF0aW9uIjogIi4uLiJ9",
                            "x-amz-algorithm": "AWS4-HMAC-SHA256",
                            "x-amz-credential": "AKIA.../20260301/eu-west-1/s3/aws4_request",
                            "x-amz-date": "20260301T120000Z",
                            "x-amz-signature": "0a1b2c...",
                        },
                    },
                    "expires_in": 900,
                }
            ]
        }
    )

    image_id: str
    upload: PresignedPost
    expires_in: int


class DownloadLink(BaseModel):
    """A presigned GET of the original or a variant, valid ``expires_in`` seconds."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://images-bucket.s3.amazonaws.com/originals/3f2a.../9f3c...?X-Amz-Signature=...",
                    "expires_in": 300,
                }
            ]
        }
    )

    url: str
    expires_in: int


class ListedImage(Image):
    """An image as a listing shows it: the record, and its thumbnail's link when asked for."""

    thumbnail_url: str | None = Field(
        default=None,
        description=(
            "With `include=thumbnail_url`: a presigned GET of the image's thumbnail (256 px WebP), "
            "valid as long as a download link; otherwise null."
        ),
    )


class ImagePage(BaseModel):
    """One page of a listing; ``next_cursor`` asks for the next (null: this is the last)."""

    items: list[ListedImage]
    next_cursor: str | None
