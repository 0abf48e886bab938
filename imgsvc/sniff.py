"""The content type of a file from its first bytes, never from its name.

The service accepts JPEG, PNG, GIF, WebP and HEIF, and decides from the bytes too: a file
declared as one format and holding another is rejected (``content_type_mismatch``), one
holding none of them is rejected (``unsupported_format``). Telling the type from the same
bytes here means a photo named ``.png`` that is really a JPEG uploads as what it is, and a
text file named ``.jpg`` is refused before anything is sent.
"""

from __future__ import annotations

from pathlib import Path

# Enough for every signature below, and for an ISO-BMFF ftyp box's first compatible brands.
HEADER_BYTES = 64

JPEG = "image/jpeg"
PNG = "image/png"
GIF = "image/gif"
WEBP = "image/webp"
HEIC = "image/heic"
HEIF = "image/heif"
ACCEPTED = (JPEG, PNG, GIF, WEBP, HEIC, HEIF)

# HEIF files are ISO-BMFF: a `ftyp` box naming a major brand and compatible ones. These name
# HEVC-coded images (what phones call HEIC); mif1/msf1 name the generic HEIF structure.
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2"}
# AVIF uses the same container with AV1 inside: not a format the service accepts.
_AVIF_BRANDS = {b"avif", b"avis"}

# The file name extension for each type (downloads keep the right one).
EXTENSIONS = {JPEG: ".jpg", PNG: ".png", GIF: ".gif", WEBP: ".webp", HEIC: ".heic", HEIF: ".heif"}


def content_type_of(header: bytes) -> str | None:
    """The accepted content type the bytes start with, or None for anything else."""
    if header.startswith(b"\xff\xd8\xff"):
        return JPEG
    if header.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if header[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if header[:4] == b"RIFF" and header[8:12] == b"WEBP":
        return WEBP
    if header[4:8] == b"ftyp":
        return _heif_type(header)
    return None


def content_type_of_file(path: Path) -> str | None:
    with path.open("rb") as file:
        return content_type_of(file.read(HEADER_BYTES))


def _heif_type(header: bytes) -> str | None:
    box_size = int.from_bytes(header[:4], "big")
    major = header[8:12]
    # Compatible brands follow the major brand and its minor version, up to the box's end.
    end = min(box_size, len(header)) if box_size >= 16 else len(header)
    brands = {major, *(header[offset : offset + 4] for offset in range(16, end - 3, 4))}
    if brands & _AVIF_BRANDS and major not in _HEIC_BRANDS:
        return None
    if brands & _HEIC_BRANDS:
        return HEIC
    if brands & _HEIF_BRANDS:
        return HEIF
    return None
