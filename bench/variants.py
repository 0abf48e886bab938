"""Variants: reduced-scale decoding against full decoding, and variant bytes against originals.

    make bench-variants        # python -m bench.variants

Speed: the thumbnail and preview of one 24-megapixel JPEG (6000x4000, made here), once with
the JPEG decoded at reduced scale (Pillow's draft mode: libjpeg decodes at 1/2, 1/4 or 1/8
straight from the DCT) and once decoded in full, then resized the same way; interleaved
rounds, same image, same run. Also the whole of processing (``inspect_upload``: verify,
decode, variants, hash) per megapixel for each picture of the corpus.

Bytes: a small corpus made here (photos, screenshots, flat graphics, an animated GIF), each
through ``inspect_upload``; each variant's bytes against its original's.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from bench.report import Section, Stopwatch, Target, publish, table
from bench.stats import median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lambda_src"))

from image_core.image import ImageContentType
from image_core.schema import Variant
from image_processing.imaging import VARIANT_LONG_EDGES, Accepted, inspect_upload

SPEED_TARGET = 4.0
MAX_PIXELS = 50_000_000


def photo(width: int, height: int, seed: int = 1) -> Image.Image:
    """Photo-like: smooth light and shapes at several scales, blurred, with sensor-like noise."""
    rng = random.Random(seed)
    small = Image.new("RGB", (48, 32))
    small.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(48 * 32)])
    image = small.resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(60):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.randrange(width // 60, width // 8)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(max(2, width // 400)))
    grain = Image.effect_noise((width, height), 18).convert("RGB")
    return Image.blend(image, grain, 0.08)


def screenshot(width: int, height: int) -> Image.Image:
    """A window of text and controls: anti-aliased glyphs on flat backgrounds."""
    image = Image.new("RGB", (width, height), (246, 246, 248))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, 40), fill=(40, 44, 52))
    draw.rectangle((0, 40, 220, height), fill=(232, 234, 238))
    rng = random.Random(5)
    words = ["image", "service", "upload", "thumbnail", "bucket", "table", "listing", "cursor", "token"]
    for line, y in enumerate(range(60, height - 20, 22)):
        text = " ".join(rng.choice(words) for _ in range(rng.randrange(3, 12)))
        draw.text((240, y), text, fill=(30, 30, 30), font_size=14)
        if line % 3 == 0:
            draw.text((16, y), rng.choice(words), fill=(70, 70, 90), font_size=14)
    draw.rounded_rectangle((width - 160, height - 60, width - 20, height - 24), radius=8, fill=(37, 99, 235))
    return image


def flat_graphic(width: int, height: int) -> Image.Image:
    image = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, width // 2, height // 2), fill=(30, 90, 200))
    draw.ellipse((width // 2, height // 3, width - 30, height - 30), fill=(230, 120, 20))
    for x in range(40, width - 40, 60):
        draw.line((x, height - 60, x + 40, height - 20), fill=(20, 20, 20), width=3)
    return image


def encoded(image: Image.Image, image_format: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=image_format, **options)
    return out.getvalue()


def animated_gif(width: int, height: int, frames: int) -> bytes:
    pictures = []
    for frame in range(frames):
        picture = flat_graphic(width, height)
        ImageDraw.Draw(picture).ellipse((frame * 20, 40, frame * 20 + 60, 100), fill=(200, 30, 60))
        pictures.append(picture.convert("P", palette=Image.Palette.ADAPTIVE, colors=16))
    return encoded(pictures[0], "GIF", save_all=True, append_images=pictures[1:], duration=80, loop=0)


def corpus() -> dict[str, tuple[bytes, ImageContentType]]:
    return {
        "photo 24 MP (JPEG q90)": (encoded(photo(6000, 4000), "JPEG", quality=90), ImageContentType.JPEG),
        "photo 12 MP (JPEG q85)": (
            encoded(photo(4000, 3000, seed=2), "JPEG", quality=85),
            ImageContentType.JPEG,
        ),
        "photo 1600x1200 (WebP)": (
            encoded(photo(1600, 1200, seed=3), "WEBP", quality=80),
            ImageContentType.WEBP,
        ),
        "photo 800x600 (PNG)": (encoded(photo(800, 600, seed=4), "PNG"), ImageContentType.PNG),
        "screenshot 1920x1080 (PNG)": (
            encoded(screenshot(1920, 1080), "PNG", optimize=True),
            ImageContentType.PNG,
        ),
        "screenshot 1280x800 (PNG)": (
            encoded(screenshot(1280, 800), "PNG", optimize=True),
            ImageContentType.PNG,
        ),
        "flat graphic 400x300 (PNG)": (
            encoded(flat_graphic(400, 300), "PNG", optimize=True),
            ImageContentType.PNG,
        ),
        "flat graphic 2000x1500 (PNG)": (
            encoded(flat_graphic(2000, 1500), "PNG", optimize=True),
            ImageContentType.PNG,
        ),
        "icon 64x64 (PNG)": (encoded(flat_graphic(64, 64), "PNG", optimize=True), ImageContentType.PNG),
        "animated GIF 320x240, 12 frames": (animated_gif(320, 240, 12), ImageContentType.GIF),
    }


Stages = dict[str, float]  # milliseconds of decode, resize and encode


def variants_reduced(data: bytes) -> Stages:
    """Draft mode: libjpeg decodes at the smallest scale that still covers the preview."""
    stages: Stages = {}
    started = time.perf_counter()
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        long_edge = VARIANT_LONG_EDGES[Variant.PREVIEW]
        scale = long_edge / max(width, height)
        image.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
        decoded = image.convert("RGB")
    stages["decode"] = (time.perf_counter() - started) * 1000
    return _variants(decoded, stages)


def variants_full(data: bytes) -> Stages:
    stages: Stages = {}
    started = time.perf_counter()
    with Image.open(io.BytesIO(data)) as image:
        decoded = image.convert("RGB")
    stages["decode"] = (time.perf_counter() - started) * 1000
    return _variants(decoded, stages)


def _variants(image: Image.Image, stages: Stages) -> Stages:
    started = time.perf_counter()
    preview = image.copy()
    preview.thumbnail((VARIANT_LONG_EDGES[Variant.PREVIEW],) * 2, Image.Resampling.LANCZOS)
    thumbnail = preview.copy()
    thumbnail.thumbnail((VARIANT_LONG_EDGES[Variant.THUMBNAIL],) * 2, Image.Resampling.LANCZOS)
    stages["resize"] = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    encoded(preview, "WEBP", quality=80)
    encoded(thumbnail, "WEBP", quality=80)
    stages["encode"] = (time.perf_counter() - started) * 1000
    return stages


def timed_ms(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    watch = Stopwatch()
    pictures = corpus()
    big, _ = pictures["photo 24 MP (JPEG q90)"]
    reduced_stages: list[Stages] = []
    full_stages: list[Stages] = []
    for _ in range(args.rounds):
        reduced_stages.append(variants_reduced(big))
        full_stages.append(variants_full(big))
    reduced = [sum(stages.values()) for stages in reduced_stages]
    full = [sum(stages.values()) for stages in full_stages]
    speedup = median(full) / median(reduced)
    stage_medians = {
        (path, stage): median([stages[stage] for stages in runs])
        for path, runs in (("reduced", reduced_stages), ("full", full_stages))
        for stage in ("decode", "resize", "encode")
    }
    decode_resize = {
        path: stage_medians[(path, "decode")] + stage_medians[(path, "resize")]
        for path in ("reduced", "full")
    }
    decode_resize_speedup = decode_resize["full"] / decode_resize["reduced"]
    rows = []
    worst = 0.0
    worst_name = ""
    for name, (data, content_type) in pictures.items():
        times = []
        result: Accepted | None = None
        for _ in range(max(1, args.rounds // 2)):
            started = time.perf_counter()
            outcome = inspect_upload(data, declared=content_type, max_pixels=MAX_PIXELS)
            times.append((time.perf_counter() - started) * 1000)
            assert isinstance(outcome, Accepted), outcome
            result = outcome
        assert result is not None
        megapixels = result.facts.width * result.facts.height / 1e6  # type: ignore[operator]
        sizes = {variant: len(content) for variant, content in result.variants.items()}
        kinds = {
            variant: "lossless" if b"VP8L" in content[:64] else "lossy"
            for variant, content in result.variants.items()
        }
        ratio_to_original = max(sizes.values()) / len(data)
        if ratio_to_original > worst:
            worst, worst_name = ratio_to_original, name
        rows.append(
            (
                name,
                f"{len(data):,}",
                f"{sizes[Variant.PREVIEW]:,} ({kinds[Variant.PREVIEW]})",
                f"{sizes[Variant.THUMBNAIL]:,} ({kinds[Variant.THUMBNAIL]})",
                f"{sizes[Variant.PREVIEW] / len(data):.3f}",
                f"{sizes[Variant.THUMBNAIL] / len(data):.3f}",
                f"{median(times):.0f}",
                f"{median(times) / megapixels:.1f}",
            )
        )
    targets = [
        Target(
            name="24 MP JPEG: reduced-scale decoding vs full decode and resize",
            target=f">= {SPEED_TARGET:.0f}x faster",
            measured=f"{median(reduced):.0f} ms vs {median(full):.0f} ms ({speedup:.1f}x)",
            met=speedup >= SPEED_TARGET,
            miss_reason=""
            if speedup >= SPEED_TARGET
            else " ".join(
                [
                    "WebP encoding of the two variants, the same work in both paths",
                    f"({stage_medians[('reduced', 'encode')]:.0f} ms), is most of the reduced path;",
                    f"decoding and resizing alone are {decode_resize_speedup:.1f}x faster",
                    f"({decode_resize['reduced']:.0f} vs {decode_resize['full']:.0f} ms). What would fix it:",
                    "a faster WebP setting (`method` below 4) for the preview, at some cost in bytes",
                ]
            ),
        ),
        Target(
            name="no variant larger than its original (bench corpus)",
            target="every variant <= its original",
            measured=f"largest variant / original: {worst:.3f} ({worst_name})",
            met=worst <= 1.0,
            miss_reason="" if worst <= 1.0 else f"{worst_name}: see the table",
        ),
    ]
    body = "\n".join(
        [
            f"Thumbnail and preview of one 24-megapixel JPEG (6000x4000, q90), {args.rounds} interleaved "
            "rounds, ms: decoded at reduced scale (draft mode), then resized and encoded: "
            f"{', '.join(f'{value:.0f}' for value in reduced)} (median {median(reduced):.0f}); "
            f"decoded in full, then the same: {', '.join(f'{value:.0f}' for value in full)} "
            f"(median {median(full):.0f}); "
            f"**{speedup:.1f}x**. Processing (`image_processing.imaging.inspect_upload`) uses draft mode.",
            "",
            "By stage (median ms):",
            "",
            table(
                ("", "decode", "resize", "WebP encode", "decode + resize"),
                [
                    (
                        path,
                        *(f"{stage_medians[(path, stage)]:.0f}" for stage in ("decode", "resize", "encode")),
                        f"{decode_resize[path]:.0f}",
                    )
                    for path in ("reduced", "full")
                ],
            ),
            "",
            "The corpus, each through `inspect_upload` (verification, decoding, both variants, hashes): "
            "bytes of the original and of each variant (and which WebP it chose: each variant is lossy or "
            "lossless, whichever is smaller; lossless is tried for pictures of at most 4,096 colours), "
            "variant / original, and processing time (median) in ms and per megapixel.",
            "",
            table(
                (
                    "picture",
                    "original",
                    "preview",
                    "thumbnail",
                    "preview / original",
                    "thumbnail / original",
                    "ms",
                    "ms / MP",
                ),
                rows,
            ),
        ]
    )
    publish(
        Section(
            key="variants",
            title="5. Variants",
            machine=watch.machine(),
            commands=["make bench-variants   # python -m bench.variants"],
            body=body,
            targets=targets,
        )
    )


if __name__ == "__main__":
    main()
