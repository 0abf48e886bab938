"""The image bucket: presigned upload and download links, object size, deletion.

Clients never send image bytes through Lambda; they get presigned requests that S3 checks
itself. Presigning is local computation, so it may use a different client than the data
calls: one whose endpoint is the address clients can reach (``S3_PUBLIC_ENDPOINT``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from image_core.errors import NotFound, error_code, throttling_as_rate_limited
from image_core.models import ImageContentType, PresignedPost

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# HeadObject has no body, so its "not found" error carries only the HTTP status as its code.
_MISSING_OBJECT_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


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
        """A POST policy for exactly this key, this content type and 1..max_bytes bytes."""
        post = self._presigning.generate_presigned_post(
            Bucket=self._bucket,
            Key=key,
            # boto3 adds the bucket and key conditions itself; the fields must be pinned here.
            Fields={"Content-Type": content_type.value},
            Conditions=[{"Content-Type": content_type.value}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_in,
        )
        return PresignedPost(url=post["url"], fields=post["fields"])

    def presigned_download(self, key: str, *, expires_in: int) -> str:
        return self._presigning.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in
        )

    def object_size(self, key: str) -> int:
        """The stored object's size in bytes; ``NotFound`` if there is no such object (any more)."""
        try:
            with throttling_as_rate_limited():
                return self._client.head_object(Bucket=self._bucket, Key=key)["ContentLength"]
        except ClientError as error:
            if error_code(error) in _MISSING_OBJECT_CODES:
                raise NotFound(f"object {key} not found") from error
            raise

    def delete_object(self, key: str) -> None:
        """Delete the object; deleting one that does not exist succeeds, which makes retries safe."""
        with throttling_as_rate_limited():
            self._client.delete_object(Bucket=self._bucket, Key=key)
