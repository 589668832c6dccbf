"""The thumbnail size rules, one row per case (the spec's Thumbnails section)."""

from __future__ import annotations

import pytest

from qasid.core.thumbnails import Preset, choose_preset, crop_plan, output_type, scaled_size


@pytest.mark.parametrize(("width", "height", "method", "expected"), [
    (32, 32, "crop", Preset(32, 32, "crop")),
    (1, 1, "crop", Preset(32, 32, "crop")),
    (33, 20, "crop", Preset(96, 96, "crop")),
    (96, 96, "crop", Preset(96, 96, "crop")),
    (97, 97, "crop", Preset(320, 240, "scale")),     # no crop size covers it: the smallest scaled one
    (64, 64, "scale", Preset(320, 240, "scale")),
    (320, 241, "scale", Preset(640, 480, "scale")),
    (800, 600, "scale", Preset(800, 600, "scale")),
    (801, 600, "scale", None),                       # beyond every pre-set size: the image's own size
    (100, 700, "crop", None),
])
def test_choose_preset(width: int, height: int, method: str, expected: Preset | None) -> None:
    assert choose_preset(width, height, method) == expected


@pytest.mark.parametrize(("image", "box", "expected"), [
    ((1000, 500), (320, 240), (320, 160)),
    ((500, 1000), (320, 240), (120, 240)),
    ((100, 50), (320, 240), (100, 50)),              # never enlarged
    ((10000, 1), (32, 32), (32, 1)),                 # never below one pixel
])
def test_scaled_size(image: tuple[int, int], box: tuple[int, int], expected: tuple[int, int]) -> None:
    assert scaled_size(*image, *box) == expected


@pytest.mark.parametrize(("image", "box", "scaled", "cut"), [
    ((1000, 500), (96, 96), (192, 96), (96, 96)),    # covers the box, then the centre is cut
    ((500, 1000), (32, 32), (32, 64), (32, 32)),
    ((64, 20), (96, 96), (64, 20), (64, 20)),        # smaller than the box: as it is
    ((200, 50), (96, 96), (200, 50), (96, 50)),      # one side smaller: not enlarged, only cut
])
def test_crop_plan(image: tuple[int, int], box: tuple[int, int], scaled: tuple[int, int],
                   cut: tuple[int, int]) -> None:
    assert crop_plan(*image, *box) == (scaled, cut)


@pytest.mark.parametrize(("source", "thumbnail"), [
    ("image/jpeg", "image/jpeg"), ("image/jpg", "image/jpeg"), ("image/png", "image/png"),
    ("image/gif", "image/png"), ("image/webp", "image/png"),
])
def test_output_type(source: str, thumbnail: str) -> None:
    assert output_type(source) == thumbnail
