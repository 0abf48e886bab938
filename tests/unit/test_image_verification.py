"""Verification, facts and variants of real files, straight through ``image_processing.imaging`` (no AWS)."""

from __future__ import annotations

import hashlib
import io
import warnings
from typing import Any

import pytest
from PIL import Image, JpegImagePlugin, PngImagePlugin

from image_core.image import ImageContentType, Reason
from image_core.schema import Variant
from image_processing.imaging import Accepted, Rejected, difference_hash, inspect_upload
from tests import images

LIMIT = 50_000_000


def accepted(data: bytes, declared: ImageContentType, max_pixels: int = LIMIT) -> Accepted:
    result = inspect_upload(data, declared=declared, max_pixels=max_pixels)
    assert isinstance(result, Accepted), result
    return result


def rejected(data: bytes, declared: ImageContentType, max_pixels: int = LIMIT) -> Rejected:
    result = inspect_upload(data, declared=declared, max_pixels=max_pixels)
    assert isinstance(result, Rejected), result
    return result


def opened(variant: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(variant))
    image.load()
    return image


def assert_bare_webp(variant: bytes) -> None:
    """A WebP with pixels and nothing else: no EXIF (so no GPS), no XMP, no ICC profile."""
    image = opened(variant)
    assert image.format == "WEBP"
    assert not {"exif", "xmp", "icc_profile"} & set(image.info), image.info
    assert len(image.getexif()) == 0
    for chunk in (b"EXIF", b"XMP ", b"ICCP"):
        assert chunk not in variant


# --- what is accepted, and the facts -----------------------------------------------------------


def test_jpeg_with_orientation_6_and_gps_gives_upright_variants_without_any_metadata() -> None:
    # Given a phone photo: landscape pixels, "rotate 90° clockwise" in EXIF, and where it was taken
    data = images.jpeg_rotated_with_gps(400, 200)

    # When it is inspected
    result = accepted(data, ImageContentType.JPEG)

    # Then the facts are the file's: stored size, its orientation, its bytes
    assert result.facts.width == 400
    assert result.facts.height == 200
    assert result.facts.format == "JPEG"
    assert result.facts.frames == 1
    assert result.facts.exif_orientation == 6
    assert result.facts.size == len(data)
    assert result.facts.sha256 == hashlib.sha256(data).hexdigest()
    # And the variants are upright (portrait; the red corner turned from top-left to top-right)
    thumbnail = opened(result.variants[Variant.THUMBNAIL])
    assert thumbnail.size == (128, 256)
    top_right = thumbnail.convert("RGB").getpixel((thumbnail.width - 5, 5))
    assert top_right == pytest.approx((255, 0, 0), abs=40)
    assert thumbnail.convert("RGB").getpixel((5, 5)) == pytest.approx((255, 255, 255), abs=8)
    # And nothing of the EXIF, GPS included, reached either variant
    for variant in result.variants.values():
        assert_bare_webp(variant)


def test_png_with_transparency_keeps_its_alpha_in_the_variants() -> None:
    result = accepted(images.transparent_png(300, 150), ImageContentType.PNG)

    assert (result.facts.format, result.facts.width, result.facts.height) == ("PNG", 300, 150)
    assert result.facts.exif_orientation == 1
    thumbnail = opened(result.variants[Variant.THUMBNAIL])
    assert thumbnail.mode == "RGBA"
    assert thumbnail.size == (256, 128)
    # the hole (10..60 of 300 wide) stays transparent, the rest half transparent red
    assert thumbnail.getpixel((30, 30))[3] == 0  # type: ignore[index]
    assert thumbnail.getpixel((200, 100)) == pytest.approx((255, 0, 0, 128), abs=3)
    assert_bare_webp(result.variants[Variant.THUMBNAIL])


def test_animated_gif_counts_its_frames_and_its_variants_are_its_first_frame() -> None:
    result = accepted(images.animated_gif(frames=4), ImageContentType.GIF)

    assert (result.facts.format, result.facts.frames) == ("GIF", 4)
    for variant in result.variants.values():
        image = opened(variant)
        assert getattr(image, "n_frames", 1) == 1
        assert image.convert("RGB").getpixel((10, 10)) == pytest.approx((255, 0, 0), abs=8)


def test_webp_is_accepted() -> None:
    result = accepted(images.webp(320, 240), ImageContentType.WEBP)

    assert (result.facts.format, result.facts.width, result.facts.height) == ("WEBP", 320, 240)


@pytest.mark.parametrize("declared", [ImageContentType.HEIC, ImageContentType.HEIF])
def test_heic_is_accepted_under_either_name(declared: ImageContentType) -> None:
    result = accepted(images.heic(320, 200), declared)

    assert (result.facts.format, result.facts.width, result.facts.height) == ("HEIF", 320, 200)
    assert opened(result.variants[Variant.THUMBNAIL]).size == (256, 160)
    assert_bare_webp(result.variants[Variant.PREVIEW])


def test_variants_have_their_long_edges_and_are_never_scaled_up() -> None:
    # Given a picture larger than the thumbnail but smaller than the preview
    result = accepted(images.jpeg(640, 320), ImageContentType.JPEG)

    # Then the thumbnail is 256 long, and the preview keeps the original size
    assert opened(result.variants[Variant.THUMBNAIL]).size == (256, 128)
    assert opened(result.variants[Variant.PREVIEW]).size == (640, 320)


def test_a_tiny_image_keeps_its_size_in_every_variant() -> None:
    result = accepted(images.png(40, 30), ImageContentType.PNG)

    assert {opened(variant).size for variant in result.variants.values()} == {(40, 30)}


def test_a_24_megapixel_jpeg_is_decoded_at_reduced_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a 6000x4000 JPEG, and a record of the size each JPEG is decoded at
    data = images.large_jpeg(6000, 4000)
    decoded_sizes: list[tuple[int, int]] = []
    original_load = JpegImagePlugin.JpegImageFile.load

    def recording_load(self: JpegImagePlugin.JpegImageFile) -> Any:
        decoded_sizes.append(self.size)
        return original_load(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", recording_load)

    # When it is inspected
    result = accepted(data, ImageContentType.JPEG)

    # Then it was decoded at a quarter of its size (the smallest JPEG scale still >= 1280 long),
    # its facts are those of the file, and the preview is 1280 long
    assert decoded_sizes[0] == (1500, 1000)
    assert (result.facts.width, result.facts.height) == (6000, 4000)
    assert opened(result.variants[Variant.PREVIEW]).size == (1280, 853)


def test_a_16_bit_png_is_scaled_to_8_bits_rather_than_clipped() -> None:
    result = accepted(images.sixteen_bit_png(40000), ImageContentType.PNG)

    # 40000 / 65535 of full scale is 156 of 255 (clipping would give 255)
    assert opened(result.variants[Variant.THUMBNAIL]).convert("L").getpixel((5, 5)) == pytest.approx(
        156, abs=2
    )


def test_an_exif_orientation_outside_1_to_8_counts_as_absent() -> None:
    exif = Image.Exif()
    exif[images.ORIENTATION] = 9
    data = images.encoded(images.noise(40, 20), "JPEG", exif=exif)

    result = accepted(data, ImageContentType.JPEG)

    assert result.facts.exif_orientation == 1
    assert opened(result.variants[Variant.THUMBNAIL]).size == (40, 20)


# --- what is rejected, and why -------------------------------------------------------------------


def test_a_text_file_declared_as_jpeg_is_an_unsupported_format() -> None:
    assert rejected(images.TEXT, ImageContentType.JPEG).reason is Reason.UNSUPPORTED_FORMAT


def test_an_image_of_a_format_not_accepted_is_an_unsupported_format() -> None:
    bmp = images.encoded(images.noise(20, 20), "BMP")

    assert rejected(bmp, ImageContentType.PNG).reason is Reason.UNSUPPORTED_FORMAT


@pytest.mark.parametrize(
    ("data", "declared"),
    [
        pytest.param(images.png(), ImageContentType.JPEG, id="PNG declared as JPEG"),
        pytest.param(images.jpeg(), ImageContentType.PNG, id="JPEG declared as PNG"),
        pytest.param(images.animated_gif(), ImageContentType.WEBP, id="GIF declared as WebP"),
        pytest.param(images.jpeg(), ImageContentType.HEIC, id="JPEG declared as HEIC"),
    ],
)
def test_bytes_of_another_format_than_declared_are_a_content_type_mismatch(
    data: bytes, declared: ImageContentType
) -> None:
    result = rejected(data, declared)

    assert result.reason is Reason.CONTENT_TYPE_MISMATCH
    assert declared.value in result.detail


@pytest.mark.parametrize(
    ("data", "declared"),
    [
        pytest.param(images.truncated(images.jpeg(200, 150)), ImageContentType.JPEG, id="truncated JPEG"),
        pytest.param(
            images.truncated(images.large_jpeg(3000, 2000), 0.9),
            ImageContentType.JPEG,
            id="truncated large JPEG",
        ),
        pytest.param(images.truncated(images.png(200, 150)), ImageContentType.PNG, id="truncated PNG"),
        pytest.param(images.truncated(images.animated_gif(), 0.7), ImageContentType.GIF, id="truncated GIF"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, ImageContentType.PNG, id="PNG signature only"),
    ],
)
def test_damaged_bytes_of_an_accepted_format_are_corrupt(data: bytes, declared: ImageContentType) -> None:
    assert rejected(data, declared).reason is Reason.CORRUPT


@pytest.mark.parametrize(
    ("width", "height"),
    [
        pytest.param(8000, 8000, id="64 MP: over the limit, under Pillow's own warning"),
        pytest.param(100_000, 100_000, id="10 gigapixels"),
    ],
)
def test_a_small_png_declaring_a_huge_canvas_is_refused_before_decoding(
    width: int, height: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a PNG of a few dozen bytes whose header declares a huge canvas, and a decoder that
    # must not even be started
    data = images.png_declaring(width, height)
    assert len(data) < 200

    def no_decoding(self: Image.Image) -> None:
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_decoding)

    # When it is inspected (with Pillow's warnings turned into errors)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = rejected(data, ImageContentType.PNG)

    # Then it is refused by the explicit limit
    assert result.reason is Reason.TOO_MANY_PIXELS
    assert f"1 frames (the first {width}x{height})" in result.detail


def test_the_pixel_limit_is_inclusive() -> None:
    data = images.png(100, 50)

    assert accepted(data, ImageContentType.PNG, max_pixels=5000).facts.width == 100
    assert rejected(data, ImageContentType.PNG, max_pixels=4999).reason is Reason.TOO_MANY_PIXELS


def test_the_pixel_limit_counts_every_frame_of_an_animation() -> None:
    # Given 4 frames of 120x80: 9,600 pixels each, 38,400 in all
    data = images.animated_gif(frames=4, width=120, height=80)

    assert rejected(data, ImageContentType.GIF, max_pixels=38_399).reason is Reason.TOO_MANY_PIXELS
    assert accepted(data, ImageContentType.GIF, max_pixels=38_400).facts.frames == 4


# --- the perceptual hash --------------------------------------------------------------------------


def test_the_same_picture_gives_the_same_hash_and_another_picture_another() -> None:
    first = accepted(images.png(seed=1), ImageContentType.PNG).facts.perceptual_hash
    again = accepted(images.png(seed=1), ImageContentType.PNG).facts.perceptual_hash
    other = accepted(images.png(seed=2), ImageContentType.PNG).facts.perceptual_hash

    assert first == again
    assert first != other
    assert len(first) == 16
    int(first, 16)


def test_a_rescaled_re_encoded_copy_has_the_same_hash() -> None:
    # Given a picture, and a copy at half the size saved as JPEG instead of PNG
    picture = images.noise(12, 8, seed=5).resize((480, 320), Image.Resampling.BICUBIC)
    copy = picture.resize((240, 160), Image.Resampling.LANCZOS)

    original = accepted(images.encoded(picture, "PNG"), ImageContentType.PNG).facts.perceptual_hash
    rescaled = accepted(images.encoded(copy, "JPEG", quality=90), ImageContentType.JPEG).facts.perceptual_hash

    assert rescaled == original


def test_the_hash_compares_each_pixel_with_its_right_neighbour() -> None:
    # Given columns getting brighter to the right (the gradient's dark top turned to the left)
    brighter_to_the_right = Image.linear_gradient("L").rotate(90).resize((90, 80))
    darker_to_the_right = brighter_to_the_right.transpose(Image.Transpose.FLIP_LEFT_RIGHT)

    # Then no pixel is brighter than its right neighbour in one, and every pixel in the other
    assert difference_hash(brighter_to_the_right) == "0000000000000000"
    assert difference_hash(darker_to_the_right) == "ffffffffffffffff"
