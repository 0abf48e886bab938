"""Small pictures the benchmarks make."""

from __future__ import annotations

import io

from PIL import Image


def tiny_png(size: tuple[int, int] = (64, 64), colour: tuple[int, int, int] = (10, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()
