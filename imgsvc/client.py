"""The image service's API as Python calls: ``Client(api_url, token)``.

    from imgsvc import Client

    with Client("http://127.0.0.1:4566/_aws/execute-api/<id>/local/", token) as client:
        image = client.upload(Path("cat.jpg"), tags=["cat"])      # waits until it is processed
        for image in client.iter_images(tag="cat"):
            print(image.image_id, image.width, image.height)

Bytes never pass through the API: an upload asks the API for a presigned POST and streams the
file straight to the storage; a download asks for a presigned GET. The bearer token goes to
the API only, never to the storage's presigned URLs. ``token`` may be a callable, asked before
each call, so that a cached sign-in can refresh itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Self
from urllib.parse import urlsplit
from xml.etree import ElementTree

import httpx

from imgsvc import sniff
from imgsvc.errors import (
    ConfigurationError,
    ImgsvcError,
    NetworkError,
    ProcessingTimeout,
    ServiceError,
    UploadRefused,
    api_error,
)
from imgsvc.models import Image, Page, Status, UploadTicket, Variant, Visibility
from imgsvc.multipart import presigned_post_body

# The presigned POST's policy allows 1 byte to 20 MiB: a bigger file is refused before sending.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0
# Processing is asynchronous; a cold start of the processing function takes seconds.
DEFAULT_WAIT_SECONDS = 120.0
DOWNLOAD_CHUNK_BYTES = 64 * 1024

TokenSource = str | Callable[[], str] | None
Progress = Callable[[int], None]


class StorageError(ImgsvcError):
    """The storage (S3) refused a presigned request: expired, tampered, or failing."""


class Client:
    """The image service's API, called as the user ``token`` names."""

    def __init__(
        self,
        api_url: str,
        token: TokenSource = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(f"not an API URL: {api_url!r} (expected http(s)://host/...)")
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self._token = token
        self._http = httpx.Client(transport=transport, timeout=timeout)
        self._sleep = sleep
        self._clock = clock

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- uploads ---------------------------------------------------------------------------------

    def request_upload(
        self,
        content_type: str,
        *,
        tags: Sequence[str] | None = None,
        description: str | None = None,
        visibility: Visibility | str | None = None,
    ) -> UploadTicket:
        """``POST /images/upload``: a pending image of the caller's and a presigned POST for its bytes."""
        body = {"content_type": content_type, **_image_fields(tags, description, visibility)}
        return UploadTicket.from_json(self._call("POST", "images/upload", json=body).json())

    def send(
        self, ticket: UploadTicket, path: Path, *, content_type: str, on_progress: Progress | None = None
    ) -> None:
        """Stream the file into the ticket's presigned POST (``on_progress(n)`` as bytes go out)."""
        body = presigned_post_body(
            ticket.fields, path, file_content_type=content_type, on_progress=on_progress
        )
        try:
            response = self._http.post(ticket.url, content=body.chunks, headers=body.headers)
        except httpx.TransportError as error:
            raise _network_error(ticket.url, error) from error
        if response.is_success:
            return
        code, message = _s3_error(response)
        if code == "EntityTooLarge":
            raise UploadRefused(
                "too_large", f"{path}: larger than the service accepts", image_id=ticket.image_id
            )
        if response.status_code < 500:
            raise UploadRefused(
                "storage_refused",
                f"{path}: the storage refused the upload: {code} {message}".rstrip(),
                image_id=ticket.image_id,
            )
        raise ServiceError(response.status_code, code or "storage_error", message)

    def upload(
        self,
        path: Path,
        *,
        tags: Sequence[str] | None = None,
        description: str | None = None,
        visibility: Visibility | str | None = None,
        wait: bool = True,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
        on_start: Callable[[int], None] | None = None,
        on_progress: Progress | None = None,
        on_sent: Callable[[], None] | None = None,
    ) -> Image:
        """Upload one file; with ``wait``, the image once processed (available).

        Raises :class:`UploadRefused` for a file that is no accepted image (refused here, from
        its bytes, before anything is sent) and for one the service rejected after processing
        (with its ``reason`` and ``image_id``); :class:`ProcessingTimeout` if processing takes
        longer than ``wait_seconds``. ``on_start(size)`` is called once the upload is accepted
        and its bytes are about to be sent, ``on_sent()`` once the storage has them.
        """
        content_type = check_uploadable(path)
        ticket = self.request_upload(content_type, tags=tags, description=description, visibility=visibility)
        if on_start is not None:
            on_start(path.stat().st_size)
        self.send(ticket, path, content_type=content_type, on_progress=on_progress)
        if on_sent is not None:
            on_sent()
        image = self.wait(ticket.image_id, timeout=wait_seconds) if wait else self.get_image(ticket.image_id)
        if image.status in (Status.REJECTED, Status.FAILED):
            reason = image.reason or image.status
            raise UploadRefused(
                reason, f"{path}: {image.status}: {reason}", image_id=image.image_id, status=image.status
            )
        return image

    def wait(self, image_id: str, *, timeout: float = DEFAULT_WAIT_SECONDS) -> Image:
        """The image once it is no longer pending (available, rejected or failed)."""
        started = self._clock()
        interval = 0.25
        while True:
            image = self.get_image(image_id)
            if image.done:
                return image
            waited = self._clock() - started
            if waited >= timeout:
                raise ProcessingTimeout(image_id, waited)
            self._sleep(min(interval, max(timeout - waited, 0.0)))
            interval = min(interval * 2, 2.0)

    # --- reading ----------------------------------------------------------------------------------

    def get_image(self, image_id: str) -> Image:
        """``GET /images/{id}``."""
        return Image.from_json(self._call("GET", f"images/{_id_segment(image_id)}").json())

    def list_images(
        self,
        *,
        tag: str | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        public: bool = False,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        """``GET /images``: one page of the caller's available images (``public``: everyone's public ones)."""
        params = {
            name: value
            for name, value in {
                "tag": tag,
                "from": date_from,
                "to": date_to,
                "visibility": Visibility.PUBLIC.value if public else None,
                "limit": str(limit) if limit is not None else None,
                "cursor": cursor,
            }.items()
            if value is not None
        }
        body = self._call("GET", "images", params=params).json()
        return Page(
            items=tuple(Image.from_json(item) for item in body.get("items") or ()),
            next_cursor=body.get("next_cursor"),
        )

    def iter_images(
        self,
        *,
        tag: str | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        public: bool = False,
        page_size: int | None = None,
    ) -> Iterator[Image]:
        """Every matching image, newest first, following the cursors page after page."""
        cursor: str | None = None
        while True:
            page = self.list_images(
                tag=tag, date_from=date_from, date_to=date_to, public=public, limit=page_size, cursor=cursor
            )
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    # --- changing and removing --------------------------------------------------------------------

    def edit_image(
        self,
        image_id: str,
        *,
        tags: Sequence[str] | None = None,
        description: str | None = None,
        visibility: Visibility | str | None = None,
    ) -> Image:
        """``PATCH /images/{id}``: change what is given (the owner only); the image as it is then."""
        body = _image_fields(tags, description, visibility)
        if not body:
            raise ValueError("nothing to change: give tags, description or visibility")
        return Image.from_json(self._call("PATCH", f"images/{_id_segment(image_id)}", json=body).json())

    def delete_image(self, image_id: str) -> None:
        """``DELETE /images/{id}`` (the owner only): the record, the original and every variant."""
        self._call("DELETE", f"images/{_id_segment(image_id)}")

    # --- downloads --------------------------------------------------------------------------------

    def download_url(self, image_id: str, variant: Variant | str = Variant.ORIGINAL) -> str:
        """A presigned GET for a variant of an available image (valid for minutes)."""
        response = self._call(
            "GET", f"images/{_id_segment(image_id)}/download", params={"variant": str(variant)}
        )
        return str(response.json()["url"])

    def download(
        self,
        image_id: str,
        out: IO[bytes],
        *,
        variant: Variant | str = Variant.ORIGINAL,
        on_start: Callable[[int | None], None] | None = None,
        on_progress: Progress | None = None,
    ) -> int:
        """Write a variant's bytes to ``out`` as they arrive; the number of bytes written.

        ``on_start(size)`` is called once the storage answers (size None when it says none).
        """
        url = self.download_url(image_id, variant)
        written = 0
        try:
            with self._http.stream("GET", url) as response:
                if not response.is_success:
                    response.read()
                    code, message = _s3_error(response)
                    raise StorageError(
                        f"the storage refused the download: {code or response.status_code} {message}".rstrip()
                    )
                length = response.headers.get("Content-Length")
                if on_start is not None:
                    on_start(int(length) if length and length.isdigit() else None)
                for chunk in response.iter_bytes(DOWNLOAD_CHUNK_BYTES):
                    out.write(chunk)
                    written += len(chunk)
                    if on_progress is not None:
                        on_progress(len(chunk))
        except httpx.TransportError as error:
            raise _network_error(url, error) from error
        return written

    # --- the API call ------------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, *, params: dict[str, str] | None = None, json: Any = None
    ) -> httpx.Response:
        headers = {"Accept": "application/json"}
        token = self._token() if callable(self._token) else self._token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = self._http.request(
                method, self.api_url + path, params=params, json=json, headers=headers
            )
        except httpx.TransportError as error:
            raise _network_error(self.api_url, error) from error
        if response.is_error:
            raise api_error(response)
        return response


def check_uploadable(path: Path) -> str:
    """The content type the file's bytes declare; UploadRefused when it is no file the service takes."""
    try:
        if not path.is_file():
            raise UploadRefused("not_a_file", f"{path}: not a file")
        size = path.stat().st_size
        content_type = sniff.content_type_of_file(path)
    except OSError as error:
        raise UploadRefused("unreadable", f"{path}: {error.strerror or error}") from error
    if content_type is None:
        raise UploadRefused(
            "unsupported_format", f"{path}: unsupported_format (not a JPEG, PNG, GIF, WebP or HEIF image)"
        )
    if size > MAX_UPLOAD_BYTES:
        raise UploadRefused("too_large", f"{path}: too_large ({size} bytes; at most {MAX_UPLOAD_BYTES})")
    return content_type


def _id_segment(image_id: str) -> str:
    # An id is one path segment: anything else ("../", "?") would address another route.
    if not image_id or any(character in image_id for character in "/?#%") or image_id in (".", ".."):
        raise ConfigurationError(f"not an image id: {image_id!r}")
    return image_id


def _network_error(url: str, error: httpx.TransportError) -> NetworkError:
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    if isinstance(error, httpx.TimeoutException):
        return NetworkError(f"{origin} did not answer in time")
    detail = str(error) or type(error).__name__
    return NetworkError(f"cannot reach {origin}: {detail}")


def _s3_error(response: httpx.Response) -> tuple[str, str]:
    """S3's ``<Error><Code>..</Code><Message>..</Message></Error>``, or empty strings."""
    try:
        root = ElementTree.fromstring(response.content)  # noqa: S314 (S3's own answer, a few hundred bytes)
    except ElementTree.ParseError:
        return "", ""
    return root.findtext("Code") or "", root.findtext("Message") or ""


def _image_fields(
    tags: Sequence[str] | None, description: str | None, visibility: Visibility | str | None
) -> dict[str, Any]:
    """The fields an upload request and an edit share, as their JSON body carries them: those given."""
    body: dict[str, Any] = {}
    if tags is not None:
        body["tags"] = list(tags)
    if description is not None:
        body["description"] = description
    if visibility is not None:
        body["visibility"] = str(visibility)
    return body
