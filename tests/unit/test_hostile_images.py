"""Uploads that are unusual or hostile: extra pictures, frames and scans, decoders out of memory.

Each refusal must come from the headers, before a single large frame is decoded: the tests
replace the decoders with a spy that fails when it is reached (on Lambda an out-of-memory
process is killed, not raised, so a limit checked after decoding is no limit at all).
"""

from __future__ import annotations

import io
import struct
import time
import warnings
import zlib
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
from PIL import GifImagePlugin, Image, ImageFile, JpegImagePlugin

from image_core.image import ImageContentType, Reason
from image_core.schema import Variant
from image_processing.headers import gif_frames, jpeg_stream
from image_processing.imaging import MAX_FRAMES, MAX_JPEG_SCANS, Accepted, Rejected, inspect_upload
from tests import images

LIMIT = 50_000_000


def inspected(data: bytes, declared: ImageContentType, max_pixels: int = LIMIT) -> Accepted | Rejected:
    return inspect_upload(data, declared=declared, max_pixels=max_pixels)


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int]]]:
    """Fail any decode of any format (Pillow's and pi-heif's both go through ImageFile.load)."""
    reached: list[tuple[int, int]] = []

    def refuse(self: ImageFile.ImageFile) -> Any:
        reached.append(self.size)
        raise AssertionError(f"a frame of {self.size} was decoded")

    for plugin_class in (ImageFile.ImageFile, JpegImagePlugin.JpegImageFile, GifImagePlugin.GifImageFile):
        monkeypatch.setattr(plugin_class, "load", refuse, raising=False)
    import pi_heif.as_plugin

    monkeypatch.setattr(pi_heif.as_plugin._LibHeifImageFile, "load", refuse)
    yield reached
    assert reached == []


@cache
def camera_mpo() -> bytes:
    return images.camera_mpo((4000, 3000), (1600, 1200))


@cache
def huge_second_frame_gif() -> bytes:
    return images.gif_with_a_huge_second_frame(10_000, 10_000)


# --- MPO: a JPEG carrying a second picture -----------------------------------------------------


def test_a_camera_jpeg_with_a_second_picture_is_available_with_the_first_pictures_facts() -> None:
    # Given a 4000x3000 JPEG carrying a 1600x1200 second picture (MPO), large enough that the
    # first picture is decoded in draft mode
    data = camera_mpo()
    assert Image.open(io.BytesIO(data)).format == "MPO"

    # When it is inspected
    result = inspected(data, ImageContentType.JPEG)

    # Then it is accepted, with the first picture's facts and a preview of it
    assert isinstance(result, Accepted), result
    facts = result.facts
    assert (facts.format, facts.width, facts.height, facts.frames) == ("MPO", 4000, 3000, 2)
    assert Image.open(io.BytesIO(result.variants[Variant.PREVIEW])).size == (1280, 960)


def test_a_truncated_second_picture_of_an_mpo_is_still_corrupt() -> None:
    # Given the same file cut inside its second picture
    data = camera_mpo()
    result = inspected(data[: len(data) - 2000], ImageContentType.JPEG)

    assert isinstance(result, Rejected)
    assert result.reason is Reason.CORRUPT


def test_mpo_pictures_that_overlap_are_corrupt_and_not_read_again_and_again() -> None:
    # Given an MPO whose index says its second picture starts inside the first
    data = bytearray(camera_mpo())
    mpo = Image.open(io.BytesIO(bytes(data)))
    entry = mpo.mpinfo[0xB002][1]  # type: ignore[attr-defined]
    offset_field = bytes(data).index(struct.pack("<L", entry["DataOffset"]))
    struct.pack_into("<L", data, offset_field, 2)

    result = inspected(bytes(data), ImageContentType.JPEG)

    assert isinstance(result, Rejected)
    assert result.reason is Reason.CORRUPT


# --- the pixel limit counts every frame, each read before it is decoded ------------------------


def test_a_gif_whose_second_frame_is_huge_is_refused_before_any_frame_is_decoded(
    no_decoding: list[tuple[int, int]],
) -> None:
    # Given a 75 KB GIF: a 1x1 screen and first frame, then a 10,000x10,000 frame
    data = huge_second_frame_gif()
    assert len(data) < 100_000

    # When it is inspected, Then it is refused for its pixels, without decoding anything
    result = inspected(data, ImageContentType.GIF)
    assert isinstance(result, Rejected), result
    assert result.reason is Reason.TOO_MANY_PIXELS
    assert "the first 1x1" in result.detail


def test_a_heif_of_several_pictures_counts_each_ones_own_size(no_decoding: list[tuple[int, int]]) -> None:
    # Given a HEIF of a 64x64 picture, then two of 320x200: 132,096 pixels in all
    data = images.heic_of_pictures((64, 64), (320, 200), (320, 200))

    # When the limit would let in three times the first, but not all three, Then it is
    # refused, undecoded
    result = inspected(data, ImageContentType.HEIC, max_pixels=100_000)
    assert isinstance(result, Rejected), result
    assert result.reason is Reason.TOO_MANY_PIXELS


def test_a_heif_of_several_pictures_within_the_limit_counts_its_frames() -> None:
    data = images.heic_of_pictures((320, 200), (64, 64), (64, 64))

    result = inspected(data, ImageContentType.HEIC, max_pixels=64_000 + 2 * 4096)

    assert isinstance(result, Accepted), result
    assert (result.facts.width, result.facts.height, result.facts.frames) == (320, 200, 3)


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(RuntimeError("Memory allocation error: Security limit exceeded"), id="libheif limit"),
        pytest.param(MemoryError(), id="MemoryError"),
    ],
)
def test_a_decoder_out_of_memory_is_a_refusal_not_a_crash(
    error: BaseException, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a HEIF decoder that runs out of memory (as libheif does with several large pictures)
    import pi_heif.as_plugin

    def out_of_memory(self: Image.Image) -> Any:
        raise error

    monkeypatch.setattr(pi_heif.as_plugin._LibHeifImageFile, "load", out_of_memory)

    # When a HEIF is inspected, Then it is refused as too much work
    result = inspected(images.heic(), ImageContentType.HEIC)
    assert isinstance(result, Rejected), result
    assert result.reason is Reason.TOO_MUCH_WORK


def test_another_heif_decoder_error_is_corrupt(monkeypatch: pytest.MonkeyPatch) -> None:
    import pi_heif.as_plugin

    def broken(self: Image.Image) -> Any:
        raise RuntimeError("Decoder plugin generated an error: Unspecified")

    monkeypatch.setattr(pi_heif.as_plugin._LibHeifImageFile, "load", broken)

    result = inspected(images.heic(), ImageContentType.HEIC)
    assert isinstance(result, Rejected), result
    assert result.reason is Reason.CORRUPT


def test_the_gif_frame_reader_grows_the_canvas_as_pillow_does() -> None:
    # 1x1, then 10,000x10,000: the second frame costs its whole canvas
    assert gif_frames(huge_second_frame_gif(), max_frames=10).canvas_pixels == (1, 100_000_000)
    assert (
        gif_frames(images.animated_gif(frames=3, width=120, height=80), max_frames=10).canvas_pixels
        == (9600,) * 3
    )


# --- frames and scans: the work an upload may cost ---------------------------------------------


def test_a_gif_of_more_frames_than_allowed_is_too_much_work(no_decoding: list[tuple[int, int]]) -> None:
    # Given a 1x1 GIF of one frame too many (each of its frames a few bytes)
    data = images.gif_of_tiny_frames(MAX_FRAMES + 1)

    result = inspected(data, ImageContentType.GIF)

    assert isinstance(result, Rejected), result
    assert result.reason is Reason.TOO_MUCH_WORK


def test_a_gif_of_as_many_frames_as_allowed_is_available() -> None:
    result = inspected(images.gif_of_tiny_frames(MAX_FRAMES), ImageContentType.GIF)

    assert isinstance(result, Accepted), result
    assert result.facts.frames == MAX_FRAMES


def animated_png(frames: int, size: tuple[int, int] = (4, 4)) -> bytes:
    pictures = [Image.new("RGB", size, (n % 256, n // 256, 7)) for n in range(frames)]
    return images.encoded(pictures[0], "PNG", save_all=True, append_images=pictures[1:])


def animated_webp(frames: int, size: tuple[int, int] = (2, 2)) -> bytes:
    # Each frame of another colour: the encoder merges identical ones.
    pictures = [Image.new("RGB", size, (n % 256, n // 256, 7)) for n in range(frames)]
    return images.encoded(pictures[0], "WEBP", save_all=True, append_images=pictures[1:], lossless=True)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_declaring_frames(frames: int) -> bytes:
    """A 1x1 PNG whose animation control chunk declares ``frames`` frames."""
    png = images.png(1, 1)
    actl = _png_chunk(b"acTL", struct.pack(">II", frames, 0))
    # Right after IHDR (8 bytes of signature, 25 of IHDR).
    return png[:33] + actl + png[33:]


@pytest.mark.parametrize(
    ("data", "declared"),
    [
        pytest.param(animated_png(MAX_FRAMES + 1), ImageContentType.PNG, id="APNG of many frames"),
        pytest.param(png_declaring_frames(2**31), ImageContentType.PNG, id="APNG declaring 2**31 frames"),
        pytest.param(animated_webp(MAX_FRAMES + 1), ImageContentType.WEBP, id="animated WebP of many frames"),
    ],
)
def test_other_animations_of_more_frames_than_allowed_are_too_much_work(
    data: bytes, declared: ImageContentType, no_decoding: list[tuple[int, int]]
) -> None:
    result = inspected(data, declared)

    assert isinstance(result, Rejected), result
    assert result.reason is Reason.TOO_MUCH_WORK


def test_an_animated_webp_counts_its_whole_canvas_per_frame(no_decoding: list[tuple[int, int]]) -> None:
    # Given an animated WebP of 3 frames of 100x100 (30,000 pixels as decoded)
    frames = [Image.new("RGB", (100, 100), (80 * n, 0, 0)) for n in range(3)]
    data = images.encoded(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)

    result = inspected(data, ImageContentType.WEBP, max_pixels=29_999)

    assert isinstance(result, Rejected), result
    assert result.reason is Reason.TOO_MANY_PIXELS


def test_a_progressive_jpeg_whose_last_scan_repeats_is_too_much_work_before_decoding(
    no_decoding: list[tuple[int, int]],
) -> None:
    # Given a 7000x7000 progressive JPEG of a few hundred kilobytes, its last scan repeated
    # 2,000 times (decoded, it keeps a CPU busy for about a minute)
    data = images.progressive_jpeg_with_repeated_last_scan(7000, 7000, 2000)
    assert len(data) < 1024 * 1024

    # When it is inspected, Then it is refused at once, from counting its scans
    started = time.monotonic()
    result = inspected(data, ImageContentType.JPEG)
    assert isinstance(result, Rejected), result
    assert result.reason is Reason.TOO_MUCH_WORK
    assert f"over {MAX_JPEG_SCANS}" in result.detail
    # (not a timing assertion on the decoder: nothing was decoded; this only keeps the
    # header walk honest about being linear)
    assert time.monotonic() - started < 30


def test_a_progressive_jpeg_of_as_many_scans_as_allowed_is_available() -> None:
    # libjpeg's own progressive JPEG has 10 scans; 90 more make exactly the limit
    data = images.progressive_jpeg_with_repeated_last_scan(64, 64, MAX_JPEG_SCANS - 10)
    assert jpeg_stream(data).scans == MAX_JPEG_SCANS

    assert isinstance(inspected(data, ImageContentType.JPEG), Accepted)
    over = images.progressive_jpeg_with_repeated_last_scan(64, 64, MAX_JPEG_SCANS - 9)
    result = inspected(over, ImageContentType.JPEG)
    assert isinstance(result, Rejected)
    assert result.reason is Reason.TOO_MUCH_WORK


def test_an_mpo_counts_the_scans_of_each_picture(no_decoding: list[tuple[int, int]]) -> None:
    # Given an MPO whose second picture is a progressive JPEG with its last scan repeated
    second = images.progressive_jpeg_with_repeated_last_scan(64, 48, MAX_JPEG_SCANS)
    mpo = images.encoded(
        Image.new("RGB", (64, 48), "white"), "MPO", save_all=True, append_images=[Image.new("RGB", (64, 48))]
    )
    # The second picture replaced by that JPEG (nothing after it, so the index still fits)
    second_start = mpo.index(b"\xff\xd8", 2)
    with_repeats = mpo[:second_start] + second
    assert jpeg_stream(with_repeats, second_start).scans > MAX_JPEG_SCANS
    if Image.open(io.BytesIO(with_repeats)).format != "MPO":
        pytest.fail("the test file is no MPO")

    result = inspected(with_repeats, ImageContentType.JPEG)

    assert isinstance(result, Rejected), result
    assert result.reason is Reason.TOO_MUCH_WORK


# --- the JPEG marker walk -----------------------------------------------------------------------


def test_the_jpeg_walk_counts_libjpegs_scans() -> None:
    baseline = images.jpeg(64, 48)
    progressive = images.encoded(images.noise(64, 48), "JPEG", progressive=True)

    assert jpeg_stream(baseline).scans == 1
    assert jpeg_stream(progressive).scans == 10
    assert jpeg_stream(baseline).end == len(baseline)


@pytest.mark.parametrize(
    "filler",
    [
        pytest.param(b"\xff" * 5_000_000, id="fill bytes"),
        pytest.param(b"\xff\x00" * 2_500_000, id="stuffed zeros"),
        pytest.param(b"\xff\xd0" * 2_500_000, id="restart markers"),
    ],
)
def test_the_jpeg_walk_is_linear_on_hostile_entropy_data(filler: bytes) -> None:
    # Given a JPEG whose scan data is megabytes of what a marker search could trip over
    data = images.jpeg(16, 16)
    data = data[:-2] + filler + b"\xff\xd9"

    started = time.monotonic()
    stream = jpeg_stream(data)

    assert stream.scans == 1
    assert stream.end == len(data)
    assert time.monotonic() - started < 30  # seconds; quadratic would be hours


def test_a_decode_error_keeps_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    # A RuntimeError outside the HEIF decoder is a bug of ours, not the upload's: it is raised
    def failing(self: Image.Image) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", failing)

    with pytest.raises(RuntimeError):
        inspected(images.jpeg(), ImageContentType.JPEG)


def test_a_damaged_exif_of_many_entries_does_not_flood_the_log() -> None:
    # Given a WebP whose EXIF directory holds 65,535 entries, each claiming more data than
    # the EXIF has (Pillow warns about every one it skips)
    entries = 65_535
    directory = struct.pack("<H", entries) + b"".join(
        struct.pack("<HHLL", n, 7, 1_000_000, 8) for n in range(entries)
    )
    exif = b"II*\0" + struct.pack("<L", 8) + directory + b"\0\0\0\0"
    data = images.encoded(Image.new("RGB", (64, 64)), "WEBP", exif=exif)

    # When it is inspected
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = inspected(data, ImageContentType.WEBP)

    # Then it is accepted, without a warning per entry
    assert isinstance(result, Accepted), result
    assert len(caught) < 10, caught[:3]
