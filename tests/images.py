"""Real image files, made by the tests with Pillow (pillow-heif for HEIC), for every case processing meets.

Each builder returns the bytes a client would upload. Pixel content is either random
(seeded: the same seed gives the same file) or a shape that makes orientation visible.
"""

from __future__ import annotations

import io
import random
import struct
import zlib

import pillow_heif
from PIL import Image, ImageDraw

ORIENTATION = 0x0112
GPS_IFD = 0x8825
# GPS IFD tags: latitude reference and value, longitude reference and value.
GPS_LATITUDE_REF, GPS_LATITUDE, GPS_LONGITUDE_REF, GPS_LONGITUDE = 1, 2, 3, 4


def noise(width: int, height: int, *, seed: int = 0, mode: str = "RGB") -> Image.Image:
    rng = random.Random(seed)
    return Image.frombytes(mode, (width, height), rng.randbytes(width * height * len(mode)))


def encoded(image: Image.Image, image_format: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=image_format, **options)
    return out.getvalue()


def landscape_marker(width: int = 400, height: int = 200) -> Image.Image:
    """Wider than high, white, with a red block in the top-left corner: rotations show."""
    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).rectangle((0, 0, width // 4, height // 4), fill=(255, 0, 0))
    return image


def jpeg_rotated_with_gps(width: int = 400, height: int = 200) -> bytes:
    """A JPEG stored landscape whose EXIF says "rotate 90° clockwise to view" (6), with GPS tags.

    What a phone held upright writes: the sensor's landscape pixels plus the orientation.
    """
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif.get_ifd(GPS_IFD).update(
        {
            GPS_LATITUDE_REF: "N",
            GPS_LATITUDE: (52.0, 31.0, 12.0),
            GPS_LONGITUDE_REF: "E",
            GPS_LONGITUDE: (13.0, 24.0, 36.0),
        }
    )
    return encoded(landscape_marker(width, height), "JPEG", quality=90, exif=exif)


def jpeg(width: int = 64, height: int = 48, *, seed: int = 0) -> bytes:
    return encoded(noise(width, height, seed=seed), "JPEG", quality=85)


def large_jpeg(width: int = 6000, height: int = 4000) -> bytes:
    """A 24-megapixel JPEG (a smooth picture, so the file stays small)."""
    return encoded(noise(60, 40, seed=7).resize((width, height)), "JPEG", quality=70)


def png(width: int = 48, height: int = 32, *, seed: int = 0) -> bytes:
    return encoded(noise(width, height, seed=seed), "PNG")


def transparent_png(width: int = 300, height: int = 150) -> bytes:
    """RGBA: a half-transparent red field with a fully transparent hole."""
    image = Image.new("RGBA", (width, height), (255, 0, 0, 128))
    ImageDraw.Draw(image).rectangle((10, 10, 60, 60), fill=(0, 0, 0, 0))
    return encoded(image, "PNG")


def sixteen_bit_png(value: int = 40000) -> bytes:
    """A 16-bit grayscale PNG of one value (40000 of 65535 is a 61 % grey)."""
    return encoded(Image.new("I;16", (32, 16), value), "PNG")


def animated_gif(frames: int = 4, width: int = 120, height: int = 80) -> bytes:
    """Frames of different colours (identical frames would be merged by the encoder)."""
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255)]
    images = [Image.new("RGB", (width, height), colours[n % len(colours)]) for n in range(frames)]
    return encoded(images[0], "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)


def webp(width: int = 320, height: int = 240, *, seed: int = 0) -> bytes:
    return encoded(noise(width, height, seed=seed), "WEBP", quality=80)


def heic(width: int = 320, height: int = 200) -> bytes:
    """A HEIC photo, encoded with pillow-heif (the function itself only ever decodes)."""
    out = io.BytesIO()
    pillow_heif.from_pillow(landscape_marker(width, height)).save(out, quality=80)
    return out.getvalue()


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: int(len(data) * keep)]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_declaring(width: int, height: int) -> bytes:
    """A decompression bomb's header: a PNG of a few dozen bytes whose IHDR declares a huge canvas.

    Its one IDAT holds a single compressed row; a decoder that trusted the header would
    allocate width x height x 3 bytes before noticing.
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _png_chunk(b"IEND", b"")
    )


TEXT = b"This is a plain text file, not a picture.\n" * 20


# --- hostile and unusual files -------------------------------------------------------------------


def camera_mpo(size: tuple[int, int] = (4000, 3000), second: tuple[int, int] = (1600, 1200)) -> bytes:
    """A JPEG carrying a second picture (MPO), as phones store depth maps and cameras previews.

    Large enough that the first picture is decoded in draft mode; smooth, so the file stays small.
    """
    first = noise(40, 30, seed=11).resize(size)
    extra = noise(16, 12, seed=12).resize(second)
    return encoded(first, "MPO", save_all=True, append_images=[extra], quality=80)


def _gif_blocks(data: bytes) -> tuple[bytes, bytes]:
    """A Pillow-written GIF split into its header (with the global colour table) and its frames' blocks."""
    flags = data[10]
    header_end = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    assert data.endswith(b";")
    return data[:header_end], data[header_end:-1]


def gif_with_a_huge_second_frame(width: int = 10_000, height: int = 10_000) -> bytes:
    """A GIF whose logical screen and first frame are 1x1 and whose second frame is width x height.

    One colour compresses to a few dozen kilobytes; decoded, the second frame is the whole of it.
    """
    palette = [0, 0, 0, 255, 255, 255] * 2

    def one_colour(size: tuple[int, int]) -> bytes:
        image = Image.new("P", size, 1)
        image.putpalette(palette)
        return encoded(image, "GIF", optimize=False)

    header, small_frame = _gif_blocks(one_colour((1, 1)))
    _, huge_frame = _gif_blocks(one_colour((width, height)))
    return header + small_frame + huge_frame + b";"


def gif_of_tiny_frames(frames: int) -> bytes:
    """A 1x1 GIF of many frames: a few bytes each, yet each costs its decoder a round of work."""
    palette = [0, 0, 0, 255, 255, 255] * 2
    image = Image.new("P", (1, 1), 1)
    image.putpalette(palette)
    header, frame = _gif_blocks(encoded(image, "GIF", optimize=False))
    return header + frame * frames + b";"


def heic_of_pictures(*sizes: tuple[int, int]) -> bytes:
    """A HEIF holding a top-level picture of each size, in order (smooth, so it stays small)."""
    pictures = [noise(8, 8, seed=n).resize(size) for n, size in enumerate(sizes)]
    heif = pillow_heif.from_pillow(pictures[0])
    for picture in pictures[1:]:
        heif.add_from_pillow(picture)
    out = io.BytesIO()
    # x265's fastest preset: large pictures encode in seconds rather than a minute.
    heif.save(out, quality=30, enc_params={"preset": "ultrafast"})
    return out.getvalue()


def progressive_jpeg_with_repeated_last_scan(width: int, height: int, repeats: int) -> bytes:
    """A progressive JPEG whose last scan comes ``repeats`` times more: each is little data (a
    refinement of bits already known), yet its decoder goes over every coefficient again.

    Of one colour, so that the repeated scan (the last refinement of the luma's AC
    coefficients, all zero) is a few bytes and the file stays small.
    """
    data = encoded(Image.new("RGB", (width, height), (90, 140, 200)), "JPEG", quality=90, progressive=True)
    last_scan = data.rindex(b"\xff\xda")
    assert data.endswith(b"\xff\xd9")
    return data[:-2] + data[last_scan:-2] * repeats + b"\xff\xd9"


def flat_graphic(width: int = 400, height: int = 300) -> bytes:
    """A flat graphic as a PNG of a couple of KB: a few solid shapes in a few colours (a logo, a chart)."""
    image = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, width // 2, height // 2), fill=(30, 90, 200))
    draw.ellipse((width // 2, height // 3, width - 30, height - 30), fill=(230, 120, 20))
    for x in range(40, width - 40, 60):
        draw.line((x, height - 60, x + 40, height - 20), fill=(20, 20, 20), width=3)
    return encoded(image, "PNG", optimize=True)
