"""Variants are lossy or lossless WebP, whichever is smaller for the picture at hand."""

from __future__ import annotations

import io

from PIL import Image

from image_core.image import ImageContentType
from image_core.schema import Variant
from image_processing.imaging import Accepted, inspect_upload
from tests import images


def variants_of(data: bytes, declared: ImageContentType) -> dict[Variant, bytes]:
    result = inspect_upload(data, declared=declared, max_pixels=50_000_000)
    assert isinstance(result, Accepted), result
    return dict(result.variants)


def is_lossless(webp: bytes) -> bool:
    # VP8L is the lossless bitstream's chunk, VP8 (with a space) the lossy one's.
    return b"VP8L" in webp[:64]


def test_a_flat_graphics_thumbnail_is_smaller_than_its_png() -> None:
    original = images.flat_graphic(400, 300)

    variants = variants_of(original, ImageContentType.PNG)

    assert len(variants[Variant.THUMBNAIL]) < len(original)
    assert len(variants[Variant.PREVIEW]) < len(original)
    assert is_lossless(variants[Variant.THUMBNAIL])


def test_a_flat_graphics_variants_keep_its_exact_colours() -> None:
    variants = variants_of(images.flat_graphic(400, 300), ImageContentType.PNG)

    preview = Image.open(io.BytesIO(variants[Variant.PREVIEW])).convert("RGB")
    # Lossless: the background and the shapes' colours come back exactly, no ringing around edges.
    colours = {colour for _, colour in preview.getcolors(maxcolors=1 << 16) or []}
    assert (250, 250, 250) in colours
    assert (30, 90, 200) in colours
    assert len(colours) < 64


def test_a_photos_variants_are_lossy() -> None:
    photo = images.encoded(images.noise(1600, 1200, seed=3).resize((1600, 1200)), "JPEG", quality=90)

    variants = variants_of(photo, ImageContentType.JPEG)

    assert not is_lossless(variants[Variant.THUMBNAIL])
    assert not is_lossless(variants[Variant.PREVIEW])
