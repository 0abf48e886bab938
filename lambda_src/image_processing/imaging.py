"""What an upload's bytes are: verification, facts and variants, with Pillow and nothing else.

Everything is decided from the bytes: the format is what Pillow recognizes (among the
accepted ones only), never the declared Content-Type or a name. The order is the cheap,
safe checks first:

1. open: read the header only (format, size, frame count); nothing is decoded yet;
2. the declared Content-Type must name the format found;
3. the work decoding would cost, from the headers of every frame (``_decode_cost``): the
   frames' pixels summed (each frame's own size, read before any frame is decoded) within
   the pixel limit, checked here explicitly rather than through Pillow's decompression-bomb
   warning; and no more frames, nor JPEG scans, than an upload may cost (``MAX_FRAMES``,
   ``MAX_JPEG_SCANS``): a small file can otherwise keep a decoder busy for minutes;
4. decode every frame completely (``load``; ``verify`` does not notice a truncated file).
   A JPEG is decoded at reduced scale (draft mode) straight to the size the largest variant
   needs: its whole compressed stream is still read, so truncation is still found, but a
   24-megapixel photo never occupies 24 megapixels of memory;
5. from the first frame, upright (EXIF orientation applied) and in sRGB: the WebP variants,
   rebuilt from bare pixels so no metadata (EXIF, GPS, XMP, ICC) reaches them, each lossy or
   lossless, whichever is smaller (``_smaller_webp_variants``), and the perceptual hash.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

import pi_heif
from PIL import ExifTags, Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from image_core.image import ImageContentType, ImageFacts, Reason
from image_core.schema import Variant
from image_processing.headers import HeaderError, gif_frames, jpeg_stream

# HEIF (as phones store photos) through pi-heif: the decode-only build of pillow-heif, whose
# wheels bundle libheif and libde265 (LGPL) but no encoder.
pi_heif.register_heif_opener()

# Pillow's own guard warns above 89 and fails above 179 megapixels whatever our limit says;
# the explicit check below replaces it, so the limit means exactly what it says.
Image.MAX_IMAGE_PIXELS = None

# Pillow's format names -> the content types an upload of that format may declare. MPO is
# how Pillow reports a JPEG carrying further pictures (phones add depth maps that way).
ACCEPTED_FORMATS: Final[Mapping[str, frozenset[ImageContentType]]] = {
    "JPEG": frozenset({ImageContentType.JPEG}),
    "MPO": frozenset({ImageContentType.JPEG}),
    "PNG": frozenset({ImageContentType.PNG}),
    "GIF": frozenset({ImageContentType.GIF}),
    "WEBP": frozenset({ImageContentType.WEBP}),
    "HEIF": frozenset({ImageContentType.HEIC, ImageContentType.HEIF}),
}
# The plugins Image.open may try: the accepted formats only (MPO comes from the JPEG plugin).
_OPENERS: Final = ["JPEG", "PNG", "GIF", "WEBP", "HEIF"]
_DRAFT_FORMATS: Final = frozenset({"JPEG", "MPO"})

# Work limits, besides the pixel limit (the settings' ``max_image_pixels``). Pillow spends
# time on every frame however small (a 20 MiB GIF holds a million 1x1 frames), and a
# progressive JPEG's decoder goes over every coefficient once per scan: libjpeg writes 10
# scans (18 for CMYK), while 2,000 repeated scans of a 7000x7000 picture take 80 s.
MAX_FRAMES: Final = 1000
MAX_JPEG_SCANS: Final = 100

# Long edge in pixels of each derived variant; smaller images are never scaled up.
VARIANT_LONG_EDGES: Final[Mapping[Variant, int]] = {Variant.PREVIEW: 1280, Variant.THUMBNAIL: 256}
_WEBP_QUALITY: Final = 80
# A picture of at most this many colours is a graphic (a logo, a chart, a screenshot), whose
# variants are also tried as lossless WebP; up to _PALETTE_COLOURS, reduced to its own colours.
_GRAPHIC_COLOURS: Final = 4096
_PALETTE_COLOURS: Final = 256

# What decoding damaged data raises in Pillow and its codecs: "image file is truncated"
# (OSError), broken chunks (SyntaxError), bad values (ValueError), short reads (EOFError,
# struct.error), broken deflate streams (zlib.error), inconsistent tables (IndexError, KeyError).
_DECODE_ERRORS: Final = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    zlib.error,
    IndexError,
    KeyError,
)
# Modes Pillow resamples with the requested filter (and that _display_ready can take).
_SMOOTH_MODES: Final = frozenset({"RGB", "RGBA", "L", "CMYK"})
_WIDE_GRAYSCALE_MODES: Final = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})

_SRGB: Final = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@dataclass(frozen=True)
class Accepted:
    facts: ImageFacts
    # WebP bytes of each derived variant.
    variants: Mapping[Variant, bytes]


@dataclass(frozen=True)
class Rejected:
    reason: Reason
    # For the log: what exactly was wrong.
    detail: str


def inspect_upload(data: bytes, *, declared: ImageContentType, max_pixels: int) -> Accepted | Rejected:
    """Verify ``data`` as an upload declared as ``declared``; its facts and variants, or why not."""
    try:
        image = Image.open(io.BytesIO(data), formats=_OPENERS)
    except UnidentifiedImageError:
        if _claims_accepted_format(data):
            return Rejected(Reason.CORRUPT, "the header of an accepted format does not parse")
        return Rejected(Reason.UNSUPPORTED_FORMAT, "not an image of an accepted format")
    except _DECODE_ERRORS as error:
        return Rejected(Reason.CORRUPT, f"unreadable header: {error}")
    with image:
        image_format = str(image.format)
        if declared not in ACCEPTED_FORMATS[image_format]:
            return Rejected(Reason.CONTENT_TYPE_MISMATCH, f"declared {declared.value}, found {image_format}")
        try:
            width, height = image.size
            cost = _decode_cost(image, data, image_format, max_pixels)
            if refusal := cost.refusal(max_pixels, image.size):
                return refusal
            orientation = exif_orientation(image)
            first_frame = _decode_all_frames(image, image_format)
        except (*_DECODE_ERRORS, HeaderError) as error:
            return Rejected(Reason.CORRUPT, f"does not decode: {error}")
        except MemoryError as error:
            return Rejected(Reason.TOO_MUCH_WORK, f"the decoder ran out of memory: {error!r}")
        except RuntimeError as error:
            if image_format != "HEIF":
                raise
            return _heif_decoder_refusal(error)
        frames = len(cost.frame_pixels)
    # Largest first, each from the one before: every step works on as few pixels as it can.
    with _exif_warnings_silenced():
        upright = ImageOps.exif_transpose(_shrunk(first_frame, VARIANT_LONG_EDGES[Variant.PREVIEW]))
    preview = _display_ready(upright)
    thumbnail = _shrunk(preview, VARIANT_LONG_EDGES[Variant.THUMBNAIL])
    variants = _smaller_webp_variants(first_frame, preview, thumbnail)
    facts = ImageFacts(
        width=width,
        height=height,
        format=image_format,
        frames=frames,
        exif_orientation=orientation,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        perceptual_hash=difference_hash(thumbnail),
    )
    return Accepted(facts=facts, variants=variants)


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8); 1 when absent or not a valid value."""
    with _exif_warnings_silenced():
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


@contextmanager
def _exif_warnings_silenced() -> Iterator[None]:
    """Pillow warns once per EXIF entry it skips as damaged, each a line in the function's log:
    a crafted directory of 65,535 entries would write 65,535 of them for one upload."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.TiffImagePlugin")
        yield


def difference_hash(image: Image.Image) -> str:
    """64-bit dHash: is each pixel brighter than its right neighbour, in a 9x8 grayscale copy.

    Robust to scaling and re-encoding, computed with Pillow alone (no numpy).
    """
    pixels = image.convert("L").resize((9, 8), Image.Resampling.LANCZOS).tobytes()
    bits = 0
    for row in range(8):
        for column in range(8):
            left, right = pixels[row * 9 + column], pixels[row * 9 + column + 1]
            bits = (bits << 1) | (left > right)
    return f"{bits:016x}"


def _claims_accepted_format(data: bytes) -> bool:
    """Whether the bytes start like an accepted format (whose header then failed to parse)."""
    head = data[:64]
    for image_format in _OPENERS:
        accept = Image.OPEN[image_format][1]
        if accept is not None and accept(head):
            return True
    return False


@dataclass(frozen=True)
class _DecodeCost:
    """What decoding every frame would take, known from the headers alone."""

    # The pixels the decoder materialises for each frame, in frame order (for a GIF the
    # canvas as grown by then, for an animated PNG or WebP the whole canvas).
    frame_pixels: tuple[int, ...]
    # The most scans of any one JPEG picture (0 for other formats).
    jpeg_scans: int = 0
    # More frames than the frames counted (the count stopped at a limit already exceeded).
    frames_declared: int | None = None

    def refusal(self, max_pixels: int, first_size: tuple[int, int]) -> Rejected | None:
        frames = self.frames_declared or len(self.frame_pixels)
        if frames > MAX_FRAMES:
            return Rejected(Reason.TOO_MUCH_WORK, f"{frames} frames, over {MAX_FRAMES}")
        if self.jpeg_scans > MAX_JPEG_SCANS:
            return Rejected(
                Reason.TOO_MUCH_WORK, f"{self.jpeg_scans} scans in one picture, over {MAX_JPEG_SCANS}"
            )
        pixels = sum(self.frame_pixels)
        if pixels > max_pixels:
            first = "x".join(map(str, first_size))
            return Rejected(
                Reason.TOO_MANY_PIXELS,
                f"{pixels} pixels in {frames} frames (the first {first}), over {max_pixels}",
            )
        return None


def _decode_cost(image: ImageFile.ImageFile, data: bytes, image_format: str, max_pixels: int) -> _DecodeCost:
    """Every frame's size and the JPEG scans, read from headers: nothing is decoded here.

    Pillow's own frame count and the first frame's size come from the file's header; later
    frames may be larger than the first, so each one's size is read before it is decoded.
    """
    width, height = image.size
    declared = int(getattr(image, "n_frames", 1)) if image_format != "GIF" else None
    if declared is not None and declared > MAX_FRAMES:
        return _DecodeCost(frame_pixels=(width * height,), frames_declared=declared)
    if image_format == "JPEG":
        return _DecodeCost(frame_pixels=(width * height,), jpeg_scans=jpeg_stream(data).scans)
    if image_format == "MPO":
        return _mpo_cost(image, data, max_pixels)
    if image_format == "GIF":
        canvases = gif_frames(data, max_frames=MAX_FRAMES).canvas_pixels
        if len(canvases) > MAX_FRAMES:
            return _DecodeCost(frame_pixels=canvases)
        # Pillow counts frames as its decoder will meet them; any it finds beyond the ones
        # read here count at the largest canvas.
        frames = int(getattr(image, "n_frames", 1))
        largest = max(canvases, default=width * height)
        return _DecodeCost(frame_pixels=canvases[:frames] + (largest,) * (frames - len(canvases)))
    if image_format == "HEIF":
        # The container's index (no decoding): every top-level image with its own size.
        heif = pi_heif.open_heif(io.BytesIO(data))
        return _DecodeCost(frame_pixels=tuple(picture.size[0] * picture.size[1] for picture in heif))
    # PNG and WebP: every frame, however small its rectangle, is decoded onto the whole canvas.
    assert declared is not None
    return _DecodeCost(frame_pixels=(width * height,) * declared)


def _mpo_cost(image: ImageFile.ImageFile, data: bytes, max_pixels: int) -> _DecodeCost:
    """Each picture of a JPEG carrying several (MPO): its size and scans, from its own header.

    Seeking to a picture reads its header only. The pictures must follow one another without
    overlapping, as the format stores them: then walking all of them reads each byte once.
    """
    frame_pixels: list[int] = []
    most_scans = 0
    end = 0
    for frame in range(int(getattr(image, "n_frames", 1))):
        image.seek(frame)
        start = image.tile[0].offset if image.tile else 0
        if frame and start < end:
            raise HeaderError(f"picture {frame} overlaps the one before it")
        stream = jpeg_stream(data, start)
        end = stream.end
        frame_pixels.append(image.size[0] * image.size[1])
        most_scans = max(most_scans, stream.scans)
        if sum(frame_pixels) > max_pixels or most_scans > MAX_JPEG_SCANS:
            break  # refused anyway: the later pictures need not be read
    image.seek(0)
    return _DecodeCost(frame_pixels=tuple(frame_pixels), jpeg_scans=most_scans)


def _heif_decoder_refusal(error: RuntimeError) -> Rejected:
    """libheif's errors reach Python as RuntimeError with only libheif's message to tell them
    apart: running into its memory or security limits is too much work, anything else damage.
    """
    message = str(error)
    if "Memory allocation" in message or "Security limit" in message:
        return Rejected(Reason.TOO_MUCH_WORK, f"the HEIF decoder refused: {message}")
    return Rejected(Reason.CORRUPT, f"does not decode: {message}")


def _decode_all_frames(image: ImageFile.ImageFile, image_format: str) -> Image.Image:
    """Decode every frame (raising on damaged data); a copy of the first, decoded.

    The first frame is the one the file opens at (a HEIF's primary image need not be its
    first), decoded in draft mode at the scale the preview needs; every other frame is only
    verified, so an MPO's further pictures are decoded at the smallest scale.
    """
    if image_format in _DRAFT_FORMATS:
        image.draft(image.mode, _draft_request(image.size, max(VARIANT_LONG_EDGES.values())))
    image.load()
    first = image.copy()
    opened_at = image.tell()
    for frame in range(int(getattr(image, "n_frames", 1))):
        if frame == opened_at:
            continue
        image.seek(frame)
        if image_format == "MPO":
            # Pillow keeps the first picture's draft scale across seeks (and refuses a second
            # draft()), so the next picture would be read at the wrong scale, as truncated.
            image.decoderconfig = ()
            image.draft(image.mode, (1, 1))
        image.load()
    return first


def _draft_request(size: tuple[int, int], long_edge: int) -> tuple[int, int]:
    """The size to ask draft mode for: the smallest scale whose long edge still reaches ``long_edge``.

    Draft mode picks the largest JPEG scale (1/2, 1/4, 1/8) that keeps *both* sides at or
    above the request, so the short side is asked for in proportion, not as ``long_edge``.
    """
    width, height = size
    longest = max(width, height)
    if longest <= long_edge:
        return size
    return (max(1, width * long_edge // longest), max(1, height * long_edge // longest))


def _shrunk(image: Image.Image, long_edge: int) -> Image.Image:
    """A copy at most ``long_edge`` pixels long, in a mode that resamples smoothly."""
    if image.mode in _WIDE_GRAYSCALE_MODES:
        # Converting 16-bit or float grayscale clips at 255 (mostly white); scale it instead.
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    elif image.mode not in _SMOOTH_MODES:
        # Palette and bilevel images would be resized by nearest neighbour.
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    shrunk = image.copy()
    # thumbnail() keeps the aspect ratio and only ever shrinks.
    shrunk.thumbnail((long_edge, long_edge), Image.Resampling.LANCZOS)
    return shrunk


def _display_ready(image: Image.Image) -> Image.Image:
    """RGB or RGBA in sRGB: colours as an embedded ICC profile meant them, before it is dropped."""
    target_mode = "RGBA" if image.has_transparency_data else "RGB"
    if profile := image.info.get("icc_profile"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode=target_mode)
            if converted is not None:
                image = converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken or mismatched profile: keep the pixels as they are
    return image.convert(target_mode) if image.mode != target_mode else image


def _smaller_webp_variants(
    source: Image.Image, preview: Image.Image, thumbnail: Image.Image
) -> dict[Variant, bytes]:
    """Each variant as lossy or lossless WebP, whichever is smaller for this picture.

    Photos compress best lossy, and lossless encoding of one costs far more time than it could
    save, so a picture of many colours (``source``, the decoded first frame) is encoded lossy
    only. Flat graphics and screenshots compress best lossless: lossy WebP of a 2 KB PNG logo
    came out at ten times its size. A picture of at most ``_PALETTE_COLOURS`` colours gets each
    variant reduced back to that many colours first (shrinking blends them at every edge,
    which lossless coding pays for dearly), so a logo's variants keep its flat colours.
    """
    # Pillow counts the colours of 8-bit modes only; 16-bit and float grayscale is a photo here.
    colours = None if source.mode in _WIDE_GRAYSCALE_MODES else source.getcolors(_GRAPHIC_COLOURS)
    variants = {}
    for variant, image in ((Variant.PREVIEW, preview), (Variant.THUMBNAIL, thumbnail)):
        candidates = [_webp(image, lossless=False)]
        if colours is not None:
            flat = image
            if len(colours) <= _PALETTE_COLOURS:
                flat = _reduced_to(image, len(colours))
            candidates.append(_webp(flat, lossless=True))
        variants[variant] = min(candidates, key=len)
    return variants


def _reduced_to(image: Image.Image, colours: int) -> Image.Image:
    """``image`` with at most ``colours`` colours, undithered (dither is noise lossless coding pays for)."""
    method = Image.Quantize.FASTOCTREE if image.mode == "RGBA" else Image.Quantize.MEDIANCUT
    return image.quantize(colors=max(colours, 2), method=method, dither=Image.Dither.NONE).convert(image.mode)


def _webp(image: Image.Image, *, lossless: bool) -> bytes:
    # A new image from the bare pixels carries no info dict, so nothing but pixels is saved.
    bare = Image.frombytes(image.mode, image.size, image.tobytes())
    out = io.BytesIO()
    # For lossless WebP, quality is the effort spent on compression (Pillow's default is 80).
    bare.save(out, format="WEBP", lossless=lossless, quality=_WEBP_QUALITY)
    return out.getvalue()
