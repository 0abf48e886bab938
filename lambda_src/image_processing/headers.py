"""Frame and scan structure of JPEG and GIF streams, read from their headers without decoding.

Pillow tells a frame's size only once it gets to that frame, and for a GIF getting there
decodes every frame before it; a JPEG's number of scans it does not tell at all. These
readers walk the bytes themselves, in time linear in the file's length (no pattern that can
backtrack, no loop that can revisit a byte), so the work an upload would cost is known
before any of it is done (``image_processing.imaging``).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Final

# The next marker, as libjpeg finds it: bytes other than 0xFF are skipped (it warns about
# them), then 0xFF fill bytes, then a code that is not a stuffed zero. Inside entropy-coded
# data the restart markers (RST0-7) belong to the scan and are passed over too. Neither
# pattern has a quantifier, so each search is linear in what it passes.
_NEXT_MARKER: Final = re.compile(rb"\xff[^\x00\xff]")
_NEXT_MARKER_AFTER_SCAN: Final = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
# Markers without a length field: TEM and the restart markers (SOI and EOI are handled apart).
_STANDALONE_MARKERS: Final = frozenset({0x01, *range(0xD0, 0xD8)})


class HeaderError(ValueError):
    """The headers do not parse: the file is damaged or not what it claims."""


@dataclass(frozen=True)
class JpegStream:
    """One JPEG picture's stream: how many scans its decoder will run, and where it ends."""

    scans: int
    # Offset just past its EOI marker (or the end of the data when it has none).
    end: int


def jpeg_stream(data: bytes, start: int = 0) -> JpegStream:
    """Walk the JPEG picture starting at ``start`` (its SOI) marker by marker up to its EOI.

    Each scan (SOS) is counted: a progressive JPEG's decoder goes over every coefficient of
    the picture once per scan, so scans times pixels is its work, whatever the file's size.
    """
    if data[start : start + 2] != b"\xff\xd8":
        raise HeaderError(f"no JPEG start of image at offset {start}")
    position = start + 2
    scans = 0
    while (found := _NEXT_MARKER.search(data, position)) is not None:
        marker = data[found.end() - 1]
        position = found.end()
        if marker == _EOI:
            return JpegStream(scans=scans, end=position)
        if marker in _STANDALONE_MARKERS:
            continue
        if marker == _SOI:
            raise HeaderError(f"a second start of image at offset {position - 2}")
        if position + 2 > len(data):
            break
        (length,) = struct.unpack_from(">H", data, position)
        if length < 2:
            raise HeaderError(f"JPEG segment of length {length} at offset {position}")
        position += length
        if marker == _SOS:
            scans += 1
            # The entropy-coded data runs up to the next marker that is not a restart.
            found = _NEXT_MARKER_AFTER_SCAN.search(data, position)
            if found is None:
                break
            position = found.start()
    # No EOI: the decoder reads to the end of the data (and finds it truncated).
    return JpegStream(scans=scans, end=len(data))


@dataclass(frozen=True)
class GifFrames:
    """The pixels Pillow materialises for each frame of a GIF, in order.

    Pillow composes every frame on a canvas that starts as the logical screen and grows to
    take in any frame that reaches past it, so a frame costs the canvas as it is by then.
    """

    canvas_pixels: tuple[int, ...]


def gif_frames(data: bytes, *, max_frames: int) -> GifFrames:
    """Every frame's canvas, from the image descriptors; stops after ``max_frames + 1`` frames.

    Follows Pillow's reading: extension blocks and image data are skipped block by block,
    stray bytes between blocks are ignored, a trailer or the end of the data ends the file.
    """
    if len(data) < 13 or data[:6] not in (b"GIF87a", b"GIF89a"):
        raise HeaderError("not a GIF header")
    width, height, flags = struct.unpack_from("<HHB", data, 6)
    position = 13
    if flags & 0x80:
        position += 3 << ((flags & 7) + 1)
    canvas = [width, height]
    frames: list[int] = []
    while position < len(data) and len(frames) <= max_frames:
        introducer = data[position]
        position += 1
        if introducer == 0x3B:  # trailer
            break
        if introducer == 0x21:  # extension: a label, then data sub-blocks
            position = _after_sub_blocks(data, position + 1)
        elif introducer == 0x2C:  # image descriptor
            if position + 9 > len(data):
                break
            left, top, frame_width, frame_height, frame_flags = struct.unpack_from("<HHHHB", data, position)
            position += 9
            if frame_flags & 0x80:
                position += 3 << ((frame_flags & 7) + 1)
            canvas = [max(canvas[0], left + frame_width), max(canvas[1], top + frame_height)]
            frames.append(canvas[0] * canvas[1])
            # The LZW minimum code size, then the image data's sub-blocks.
            position = _after_sub_blocks(data, position + 1)
    return GifFrames(canvas_pixels=tuple(frames))


def _after_sub_blocks(data: bytes, position: int) -> int:
    """The offset after a chain of GIF data sub-blocks (each a length byte and that many bytes)."""
    while position < len(data):
        length = data[position]
        position += 1 + length
        if length == 0:
            break
    return position
