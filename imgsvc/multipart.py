"""The body of an S3 presigned POST, streamed from the file with a known length.

S3 wants ``multipart/form-data`` with every policy field first, as a plain string (the
``tagging`` field is XML, which form tools that read ``<...`` or ``@...`` as file names
mangle), and the file last. It refuses chunked transfer encoding, so the length is computed
up front and the file is read in chunks as it is sent, never held in memory whole.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class MultipartBody:
    """A ready-to-send body: its headers, its exact length and its chunks (read as sent)."""

    content_type: str
    length: int
    chunks: Iterator[bytes]

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type, "Content-Length": str(self.length)}


def presigned_post_body(
    fields: Mapping[str, str],
    path: Path,
    *,
    file_content_type: str,
    on_progress: Callable[[int], None] | None = None,
) -> MultipartBody:
    """The form for ``fields`` then the file at ``path``; ``on_progress(n)`` after each n bytes of it."""
    boundary = secrets.token_hex(16)
    head = b"".join(
        _part_header(boundary, name) + str(value).encode() + b"\r\n" for name, value in fields.items()
    )
    head += _part_header(boundary, "file", filename=path.name, content_type=file_content_type)
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = path.stat().st_size
    return MultipartBody(
        content_type=f"multipart/form-data; boundary={boundary}",
        length=len(head) + size + len(tail),
        chunks=_chunks(head, path, size, tail, on_progress),
    )


def _part_header(boundary: str, name: str, *, filename: str | None = None, content_type: str = "") -> bytes:
    disposition = f'form-data; name="{_quoted(name)}"'
    if filename is not None:
        disposition += f'; filename="{_quoted(filename)}"'
    lines = [f"--{boundary}", f"Content-Disposition: {disposition}"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    # A file name that is no valid UTF-8 (possible on Linux) cannot be sent as it is; S3 ignores it anyway.
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "replace")


def _quoted(value: str) -> str:
    # As browsers do (WHATWG form encoding): nothing in a name may end the quoted string or the line.
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _chunks(
    head: bytes, path: Path, size: int, tail: bytes, on_progress: Callable[[int], None] | None
) -> Iterator[bytes]:
    yield head
    sent = 0
    with path.open("rb") as file:
        while chunk := file.read(min(CHUNK_BYTES, size - sent)):
            sent += len(chunk)
            yield chunk
            if on_progress is not None:
                on_progress(len(chunk))
            if sent >= size:
                break
    if sent != size:
        # The declared length is already on its way: a file that shrank would hang the request.
        raise OSError(f"{path} changed while it was being uploaded")
    yield tail
