"""Thumbnails over real HTTP: sizes, still images, animation on request, bounded decoding.

Each result is opened with Pillow: its size is checked against the spec's pre-set sizes and
whether it is a still image.
"""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.api.test_media import CLIENT_MEDIA, client, upload
from tests.server import ServerProcess


def image_bytes(fmt: str, size: tuple[int, int], frames: int = 1, mode: str = "RGB") -> bytes:
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]
    images = [Image.new(mode, size, colours[i % len(colours)]) for i in range(frames)]
    out = io.BytesIO()
    if frames > 1:
        images[0].save(out, fmt, save_all=True, append_images=images[1:], duration=100, loop=0)
    else:
        images[0].save(out, fmt)
    return out.getvalue()


def png_bomb(side: int) -> bytes:
    """A valid one-bit PNG of side x side pixels: tens of kilobytes that would decode to gigabytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (side + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def thumbnail(http: httpx.Client, media_id: str, **params: object) -> httpx.Response:
    return http.get(f"{CLIENT_MEDIA}/thumbnail/qasid.test/{media_id}", params=params)


def opened(response: httpx.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    image = Image.open(io.BytesIO(response.content))
    assert image.get_format_mimetype() == response.headers["content-type"]
    assert response.headers["content-disposition"].startswith("inline")
    return image


def is_still(image: Image.Image) -> bool:
    return not getattr(image, "is_animated", False) and getattr(image, "n_frames", 1) == 1


def test_thumbnails_of_each_image_type(server: ServerProcess) -> None:
    alice, bob = client(server, "alice"), client(server, "bob")
    png = upload(alice, image_bytes("PNG", (1000, 500), mode="RGBA"), "image/png")
    jpeg = upload(alice, image_bytes("JPEG", (1200, 900)), "image/jpeg")
    gif = upload(alice, image_bytes("GIF", (300, 200), frames=3), "image/gif")
    webp = upload(alice, image_bytes("WEBP", (400, 300), frames=2), "image/webp")

    # crop: exactly the pre-set box; scale: inside the smallest box covering the request.
    crop = opened(thumbnail(bob, png, width=32, height=32, method="crop"))
    assert (crop.size, crop.format, crop.mode) == ((32, 32), "PNG", "RGBA")
    assert opened(thumbnail(bob, png, width=50, height=50, method="crop")).size == (96, 96)
    assert opened(thumbnail(bob, png, width=300, height=200, method="scale")).size == (320, 160)
    assert opened(thumbnail(bob, png, width=300, height=200)).size == (320, 160)   # scale is the default
    # Larger than every pre-set size: the image at its own size, never enlarged.
    assert opened(thumbnail(bob, png, width=2000, height=2000)).size == (1000, 500)

    photo = opened(thumbnail(bob, jpeg, width=640, height=480, method="scale"))
    assert (photo.size, photo.format) == ((640, 480), "JPEG")
    assert opened(thumbnail(bob, jpeg, width=96, height=96, method="crop")).size == (96, 96)

    for media_id, fmt, size in ((gif, "GIF", (300, 200)), (webp, "WEBP", (400, 300))):
        # animated absent or false: a still image of the first frame.
        for params in ({}, {"animated": "false"}):
            still = opened(thumbnail(bob, media_id, width=96, height=96, method="crop", **params))
            assert (still.size, still.format) == ((96, 96), "PNG") and is_still(still)
            red, green, blue = still.convert("RGB").getpixel((48, 48))  # type: ignore[misc]
            assert red > 150 and green < 80 and blue < 80      # the first frame's colour (WebP is lossy)
        # animated=true: the animation itself.
        moving = opened(thumbnail(bob, media_id, width=96, height=96, animated="true"))
        assert (moving.format, moving.size) == (fmt, size) and moving.n_frames > 1
    # animated=true of a still image is the still thumbnail.
    assert is_still(opened(thumbnail(bob, png, width=32, height=32, method="crop", animated="true")))


def test_each_thumbnail_is_made_once(server: ServerProcess) -> None:
    alice = client(server, "alice")
    media_id = upload(alice, image_bytes("PNG", (700, 700)), "image/png")
    first = thumbnail(alice, media_id, width=320, height=240)
    stored = list((server.data_dir / "thumbnails").rglob("*.png"))
    assert [p.name for p in stored] == ["320x240-scale.png"] and stored[0].read_bytes() == first.content
    before = stored[0].stat().st_mtime_ns
    assert thumbnail(alice, media_id, width=300, height=200).content == first.content
    assert stored[0].stat().st_mtime_ns == before


def test_what_is_not_an_image_is_never_decoded(server: ServerProcess) -> None:
    alice = client(server, "alice")
    real_png = image_bytes("PNG", (64, 64))
    for content, content_type in ((real_png, "application/octet-stream"), (b"%PDF-1.7", "application/pdf"),
                                  (b"\x89PNG\r\n\x1a\n garbage", "image/png"), (real_png, "image/jpeg")):
        media_id = upload(alice, content, content_type)
        refused = thumbnail(alice, media_id, width=32, height=32)
        assert refused.status_code == 400 and refused.json()["errcode"] == "M_UNKNOWN", (content_type, refused.text)
    assert not list((server.data_dir / "thumbnails").rglob("*.*"))


@pytest.mark.parametrize(("params", "errcode"), [
    ({"height": 32}, "M_MISSING_PARAM"),
    ({"width": 32}, "M_MISSING_PARAM"),
    ({"width": 0, "height": 32}, "M_INVALID_PARAM"),
    ({"width": -5, "height": 32}, "M_INVALID_PARAM"),
    ({"width": "big", "height": 32}, "M_INVALID_PARAM"),
    ({"width": 32, "height": 32, "method": "stretch"}, "M_INVALID_PARAM"),
    ({"width": 32, "height": 32, "animated": "yes"}, "M_INVALID_PARAM"),
])
def test_bad_parameters(server: ServerProcess, params: dict[str, object], errcode: str) -> None:
    alice = client(server, "alice")
    media_id = upload(alice, image_bytes("PNG", (64, 64)), "image/png")
    response = thumbnail(alice, media_id, **params)
    assert response.status_code == 400 and response.json()["errcode"] == errcode


def test_a_decompression_bomb_is_refused_at_once(server: ServerProcess, tmp_path: Path) -> None:
    alice = client(server, "alice")
    bomb = png_bomb(20_000)
    assert len(bomb) < 1_000_000
    media_id = upload(alice, bomb, "image/png")
    for params in ({"width": 32, "height": 32, "method": "crop"}, {"width": 32, "height": 32, "animated": "true"}):
        started = time.monotonic()
        refused = thumbnail(alice, media_id, **params)
        assert time.monotonic() - started < 2.0
        assert refused.status_code == 413 and refused.json()["errcode"] == "M_TOO_LARGE", refused.text
    # Just over the limit (40 megapixels) is refused too; the server goes on thumbnailing.
    over = upload(alice, png_bomb(6_400), "image/png")
    assert thumbnail(alice, over, width=32, height=32).status_code == 413
    fine = upload(alice, image_bytes("PNG", (64, 64)), "image/png")
    assert opened(thumbnail(alice, fine, width=32, height=32, method="crop")).size == (32, 32)
