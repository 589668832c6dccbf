"""Thumbnails of uploaded images: a few pre-set sizes, each generated once and kept beside the media.

The spec's Thumbnails section asks servers to produce 32x32 and 96x96 by cropping and 320x240,
640x480 and 800x600 by scaling, never to upscale, and never to return less than was asked unless
the image itself is smaller. A request is answered with the smallest pre-set size that covers it
(of the method asked, else of the other); one larger than every pre-set size gets the image at
its own size. Fixed sizes bound the work and the disk: at most one file per size per image.

Decoding is where an image can hurt the server, so it is bounded: only PNG, JPEG, GIF and WebP
are opened, and only when the upload declared an image type (an encrypted attachment is never
decoded); an image over MAX_PIXELS is refused from its header, before any pixel is decoded
(Pillow's decompression-bomb warning is made an error too); only the first frame is decoded; and
decoding runs in worker threads, at most MAX_CONCURRENT_DECODES at once, off the event loop.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from qasid.core.errors import MatrixError

MAX_PIXELS = 40_000_000
MAX_CONCURRENT_DECODES = 2
JPEG_QUALITY = 80
# Declared type → the format Pillow may open it as, and the still thumbnail's type.
SOURCE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/jpg": "JPEG", "image/gif": "GIF",
                  "image/webp": "WEBP"}
ANIMATABLE_TYPES = frozenset({"image/png", "image/gif", "image/webp"})

Image.MAX_IMAGE_PIXELS = MAX_PIXELS
warnings.simplefilter("error", Image.DecompressionBombWarning)


@dataclass(frozen=True)
class Preset:
    """One size the server generates: a bounding box and how the image is fitted to it."""

    width: int
    height: int
    method: str  # "crop" or "scale"

    @property
    def name(self) -> str:
        return f"{self.width}x{self.height}-{self.method}"


PRESETS = (Preset(32, 32, "crop"), Preset(96, 96, "crop"), Preset(320, 240, "scale"),
           Preset(640, 480, "scale"), Preset(800, 600, "scale"))
METHODS = ("crop", "scale")


def cannot_thumbnail(why: str = "Cannot generate thumbnails for the requested content") -> MatrixError:
    """The spec's answer when there is no thumbnail for this content (as Synapse: 400 M_UNKNOWN)."""
    return MatrixError(400, "M_UNKNOWN", why)


def too_large_to_thumbnail() -> MatrixError:
    """The spec's answer for local content too large to thumbnail."""
    return MatrixError(413, "M_TOO_LARGE", f"Content is too large to thumbnail (over {MAX_PIXELS} pixels)")


def choose_preset(width: int, height: int, method: str) -> Preset | None:
    """The smallest pre-set size covering width x height, of `method` first; None when none covers it."""
    for pool in ([p for p in PRESETS if p.method == method], [p for p in PRESETS if p.method != method]):
        covering = [p for p in pool if p.width >= width and p.height >= height]
        if covering:
            return min(covering, key=lambda p: p.width * p.height)
    return None


def scaled_size(width: int, height: int, box_width: int, box_height: int) -> tuple[int, int]:
    """The image fitted inside the box, aspect ratio kept, never enlarged."""
    ratio = min(box_width / width, box_height / height, 1.0)
    return max(1, round(width * ratio)), max(1, round(height * ratio))


def crop_plan(width: int, height: int, box_width: int, box_height: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """For crop: the size to scale the image to (covering the box, never enlarged), then the centred
    size to cut from it (the box, or less where the image is smaller than the box)."""
    ratio = min(max(box_width / width, box_height / height), 1.0)
    scaled = max(1, math.ceil(width * ratio)), max(1, math.ceil(height * ratio))
    return scaled, (min(box_width, scaled[0]), min(box_height, scaled[1]))


def output_type(content_type: str) -> str:
    """Still thumbnails of JPEG photos stay JPEG; everything else becomes PNG (alpha kept)."""
    return "image/jpeg" if SOURCE_FORMATS.get(content_type) == "JPEG" else "image/png"


def _open(source: Path, content_type: str) -> Image.Image:
    try:
        image = Image.open(source, formats=[SOURCE_FORMATS[content_type]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_large_to_thumbnail() from None
    except (OSError, SyntaxError, ValueError):
        raise cannot_thumbnail("The content is not an image this server can read") from None
    if image.width * image.height > MAX_PIXELS:
        image.close()
        raise too_large_to_thumbnail()
    return image


def is_animated(source: Path, content_type: str) -> bool:
    """Whether the image has more than one frame (read from its headers; no pixel is decoded)."""
    with _open(source, content_type) as image:
        try:
            return bool(getattr(image, "is_animated", False))
        except (OSError, SyntaxError, ValueError, EOFError):
            return False


def render(source: Path, content_type: str, preset: Preset | None, dest: Path) -> None:
    """Write the still thumbnail of `source` for `preset` (None: at the image's own size) to `dest`,
    atomically. Raises MatrixError when the image is too large or unreadable."""
    with _open(source, content_type) as image:
        try:
            if preset is not None and image.format == "JPEG":
                side = max(preset.width, preset.height)
                image.draft("RGB", (side, side))  # decode JPEG at a reduced scale where it can
            image.seek(0)
            frame = ImageOps.exif_transpose(image.copy()) if image.format == "JPEG" else image.copy()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise too_large_to_thumbnail() from None
        except (OSError, SyntaxError, ValueError, EOFError):
            raise cannot_thumbnail("The content is not an image this server can read") from None
    kind = output_type(content_type)
    frame = frame.convert("RGB" if kind == "image/jpeg" else "RGBA")
    if preset is not None and preset.method == "crop":
        scaled, cut = crop_plan(frame.width, frame.height, preset.width, preset.height)
        frame = frame.resize(scaled, Image.Resampling.LANCZOS)
        left, top = (scaled[0] - cut[0]) // 2, (scaled[1] - cut[1]) // 2
        frame = frame.crop((left, top, left + cut[0], top + cut[1]))
    elif preset is not None:
        frame = frame.resize(scaled_size(frame.width, frame.height, preset.width, preset.height),
                             Image.Resampling.LANCZOS)
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = dest.parent / f".{dest.name}.{secrets.token_hex(8)}.tmp"
    try:
        if kind == "image/jpeg":
            frame.save(temp, "JPEG", quality=JPEG_QUALITY)
        else:
            frame.save(temp, "PNG", optimize=False)
        os.replace(temp, dest)  # a thumbnail can always be made again: no fsync needed
    finally:
        temp.unlink(missing_ok=True)


class Thumbnailer:
    """Generates each thumbnail once, off the event loop, a bounded number at a time."""

    def __init__(self, max_concurrent: int = MAX_CONCURRENT_DECODES) -> None:
        self._decodes = asyncio.Semaphore(max_concurrent)
        self._in_flight: dict[Path, asyncio.Future[None]] = {}

    async def animated(self, source: Path, content_type: str) -> bool:
        """Whether an image of an animatable type has several frames."""
        if content_type not in ANIMATABLE_TYPES:
            return False
        async with self._decodes:
            return await asyncio.to_thread(is_animated, source, content_type)

    async def still(self, source: Path, content_type: str, preset: Preset | None, dest: Path) -> None:
        """Make sure the still thumbnail `dest` exists; concurrent requests for it share one decode."""
        if dest.is_file():
            return
        pending = self._in_flight.get(dest)
        if pending is not None:
            await asyncio.shield(pending)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._in_flight[dest] = future
        try:
            async with self._decodes:
                await asyncio.to_thread(render, source, content_type, preset, dest)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as error:
            future.set_exception(error)
            future.exception()  # marked retrieved: nobody else may be waiting
            raise
        else:
            future.set_result(None)
        finally:
            del self._in_flight[dest]
