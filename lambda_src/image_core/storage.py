"""The image bucket: presigned upload and download links, originals, variants, deletion.

Clients never send image bytes through Lambda; they get presigned requests that S3 checks
itself. Presigning is local computation, so it may use a different client than the data
calls: one whose endpoint is the address clients can reach (``S3_PUBLIC_ENDPOINT``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from pydantic import BaseModel

from image_core import schema
from image_core.errors import NotFound, error_code, throttling_as_rate_limited
from image_core.image import ImageContentType

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

# HeadObject has no body, so its "not found" error carries only the HTTP status as its code.
_MISSING_OBJECT_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
# CopyObject's answer when the source is no longer the ETag it was asked to copy.
_CHANGED_SOURCE_CODES = frozenset({"PreconditionFailed", "412"})
# DeleteObjects takes at most this many keys per request.
_DELETE_BATCH = 1000


def _unquoted(etag: str) -> str:
    # S3 answers ETags quoted ("abc"); events carry them bare (abc). The bare form is kept.
    return etag.strip('"')


class PresignedPost(BaseModel):
    """A presigned POST: where the client posts its form, and the fields it must send."""

    url: str
    fields: dict[str, str]


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    etag: str


def presigning_client(
    public_endpoint: str | None, *, session: boto3.session.Session | None = None
) -> S3Client:
    """A client whose presigned URLs work for callers outside AWS (from ``session``, or boto3's default).

    SigV4 explicitly, because botocore still signs presigned POSTs with SigV2 by default, which
    newer regions refuse. With a public endpoint (the local cloud), path-style addressing keeps
    the bucket out of the host name, which would not resolve there.
    """
    make_client = session.client if session is not None else boto3.client
    if public_endpoint is None:
        return make_client("s3", config=Config(signature_version="s3v4"))
    return make_client(
        "s3",
        endpoint_url=public_endpoint,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


class ImageStorage:
    def __init__(self, client: S3Client, bucket: str, *, presigning: S3Client | None = None) -> None:
        self._client = client
        self._presigning = presigning or client
        self._bucket = bucket

    def presigned_upload(
        self, key: str, *, content_type: ImageContentType, max_bytes: int, expires_in: int
    ) -> PresignedPost:
        """A POST policy for exactly this key, this content type and 1..max_bytes bytes.

        ``key`` is the image's incoming (quarantine) key: nothing a client sends is ever served
        before processing copies it to the originals (see ``schema.INCOMING_PREFIX``).
        """
        post = self._presigning.generate_presigned_post(
            Bucket=self._bucket,
            Key=key,
            # boto3 adds the bucket and key conditions itself; the fields must be pinned here.
            Fields={"Content-Type": content_type.value},
            Conditions=[
                {"Content-Type": content_type.value},
                ["content-length-range", 1, max_bytes],
            ],
            ExpiresIn=expires_in,
        )
        return PresignedPost(url=post["url"], fields=post["fields"])

    def presigned_download(self, key: str, *, expires_in: int) -> str:
        return self._presigning.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in
        )

    def read_object(self, key: str) -> StoredObject:
        """The object's bytes and ETag as they are now; ``NotFound`` if there is no such object."""
        try:
            with throttling_as_rate_limited():
                response = self._client.get_object(Bucket=self._bucket, Key=key)
                return StoredObject(data=response["Body"].read(), etag=_unquoted(response["ETag"]))
        except ClientError as error:
            if error_code(error) in _MISSING_OBJECT_CODES:
                raise NotFound(f"object {key} not found") from error
            raise

    def current_etag(self, key: str) -> str | None:
        """The ETag of the object stored under ``key`` now, or None if there is none."""
        try:
            with throttling_as_rate_limited():
                return _unquoted(self._client.head_object(Bucket=self._bucket, Key=key)["ETag"])
        except ClientError as error:
            if error_code(error) in _MISSING_OBJECT_CODES:
                return None
            raise

    def copy_if_unchanged(self, source_key: str, etag: str, target_key: str) -> bool:
        """Copy ``source_key`` to ``target_key`` inside the bucket, only if it still is the object ``etag``.

        Whether it was copied: False when the source has been replaced or deleted since it was
        read, so bytes that were not the ones looked at are never copied. A server-side copy:
        the bytes do not pass through the function again, and the Content-Type goes with them.
        """
        try:
            with throttling_as_rate_limited():
                self._client.copy_object(
                    Bucket=self._bucket,
                    Key=target_key,
                    CopySource={"Bucket": self._bucket, "Key": source_key},
                    CopySourceIfMatch=f'"{etag}"',
                )
        except ClientError as error:
            if error_code(error) in _CHANGED_SOURCE_CODES | _MISSING_OBJECT_CODES:
                return False
            raise
        return True

    def put_variant(self, key: str, data: bytes) -> None:
        with throttling_as_rate_limited():
            self._client.put_object(
                Bucket=self._bucket, Key=key, Body=data, ContentType=schema.VARIANT_CONTENT_TYPE
            )

    def delete_object(self, key: str) -> None:
        """Delete the object; deleting one that does not exist succeeds, which makes retries safe."""
        with throttling_as_rate_limited():
            self._client.delete_object(Bucket=self._bucket, Key=key)

    def delete_object_if_unchanged(self, key: str, etag: str) -> bool:
        """Delete the object only if it still is the upload ``etag``; whether it was deleted.

        A newer upload through the same presigned POST must survive the rejection of an older
        one. S3 offers no conditional delete for general purpose buckets everywhere (nor does
        the local cloud), so this checks first: a newer upload landing in the milliseconds
        between the check and the delete is the one case this cannot tell.
        """
        if self.current_etag(key) != etag:
            return False
        self.delete_object(key)
        return True

    def delete_objects(self, keys: Iterable[str]) -> None:
        """Delete these objects (missing ones are not an error)."""
        batch: list[ObjectIdentifierTypeDef] = [{"Key": key} for key in keys]
        for start in range(0, len(batch), _DELETE_BATCH):
            with throttling_as_rate_limited():
                response = self._client.delete_objects(
                    Bucket=self._bucket,
                    Delete={"Objects": batch[start : start + _DELETE_BATCH], "Quiet": True},
                )
            if errors := response.get("Errors"):
                # Quiet mode reports only failures; leaving one behind must not pass silently.
                raise RuntimeError(f"could not delete {len(errors)} object(s), e.g. {errors[0]}")

    def delete_image_objects(self, image_id: str) -> None:
        """Delete every object of the image: its upload, every original and every variant.

        Listing rather than deriving keys from the record also finds what an interrupted
        processing run left behind, so nothing outlives the image.
        """
        self.delete_object(schema.incoming_object_key(image_id))
        self.delete_objects(
            self._keys_under(schema.originals_prefix(image_id), schema.variants_prefix(image_id))
        )

    def delete_revisions_except(self, image_id: str, revision: str) -> None:
        """Delete every original and variant of the image that is not of ``revision``."""
        keep = set(schema.revision_object_keys(image_id, revision))
        keys = self._keys_under(schema.originals_prefix(image_id), schema.variants_prefix(image_id))
        self.delete_objects(key for key in keys if key not in keep)

    def _keys_under(self, *prefixes: str) -> list[str]:
        keys: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        with throttling_as_rate_limited():
            for prefix in prefixes:
                for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
                    keys += [entry["Key"] for entry in page.get("Contents", [])]
        return keys
