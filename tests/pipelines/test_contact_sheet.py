"""Contact sheets: a labelled grid of tone-mapped shot thumbnails as PNG bytes."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from pipelines.color.display import to_display_srgb
from pipelines.master.contact_sheet import LABEL_HEIGHT, PADDING, TITLE_HEIGHT, contact_sheet


def shot_frame(level: float, h: int = 36, w: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([x / w * level, y / h * level, np.full_like(x, level)], axis=-1)


def tiles(n: int) -> list[tuple[str, np.ndarray]]:
    return [(f"sh{10 * (i + 1):03d}  {1001 + 24 * i}-{1024 + 24 * i}", shot_frame(0.1 * (i + 1))) for i in range(n)]


def open_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.convert("RGB")


@pytest.mark.parametrize("n, columns", [(1, 4), (4, 4), (5, 4), (7, 3), (3, 1)])
def test_the_sheet_is_a_grid_of_the_expected_size(n, columns):
    tile_width = 96
    thumb_height = 54  # 64x36 frames at 96 wide
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    image = open_png(contact_sheet(tiles(n), title="sq010", columns=columns, tile_width=tile_width))
    assert image.size == (
        PADDING + cols * (tile_width + PADDING),
        TITLE_HEIGHT + rows * (thumb_height + LABEL_HEIGHT + PADDING),
    )


def test_the_same_input_gives_identical_bytes():
    assert contact_sheet(tiles(5), title="sq010") == contact_sheet(tiles(5), title="sq010")


def test_the_png_carries_no_metadata_chunks():
    data = contact_sheet(tiles(2), title="sq010")
    chunks, pos = set(), 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunks.add(data[pos + 4 : pos + 8])
        pos += 12 + length
    assert chunks == {b"IHDR", b"IDAT", b"IEND"}


def test_labels_are_drawn_in_the_strip_under_each_thumbnail():
    sheet_a = tiles(2)
    sheet_b = [sheet_a[0], ("sh999  2001-2024", sheet_a[1][1])]
    a = np.asarray(open_png(contact_sheet(sheet_a, title="sq010", tile_width=96))).astype(int)
    b = np.asarray(open_png(contact_sheet(sheet_b, title="sq010", tile_width=96))).astype(int)
    rows, cols = np.nonzero(np.abs(a - b).sum(axis=2))
    strip_top = TITLE_HEIGHT + 54
    assert rows.size > 0
    assert rows.min() >= strip_top and rows.max() < strip_top + LABEL_HEIGHT
    assert cols.min() >= PADDING + 96 + PADDING  # only the second tile's label changed


def test_the_title_changes_the_top_of_the_sheet():
    a = np.asarray(open_png(contact_sheet(tiles(1), title="sq010"))).astype(int)
    b = np.asarray(open_png(contact_sheet(tiles(1), title="sq020"))).astype(int)
    rows, _ = np.nonzero(np.abs(a - b).sum(axis=2))
    assert rows.size > 0 and rows.max() < TITLE_HEIGHT


def test_each_thumbnail_shows_its_own_frame_tone_mapped():
    dark, bright = np.full((36, 64, 3), 0.02, np.float32), np.full((36, 64, 3), 4.0, np.float32)
    image = open_png(contact_sheet([("dark", dark), ("bright", bright)], title="t", tile_width=96))
    centre_y = TITLE_HEIGHT + 27
    dark_px = image.getpixel((PADDING + 48, centre_y))
    bright_px = image.getpixel((2 * PADDING + 96 + 48, centre_y))
    # Through the ACES 2.0 sRGB view: scene 0.02 is code 10, scene 4.0 is 229.
    assert dark_px == tuple(to_display_srgb(dark[:1, :1])[0, 0])
    assert bright_px == tuple(to_display_srgb(bright[:1, :1])[0, 0])
    assert max(dark_px) < 80 and min(bright_px) > 220


def test_frames_of_different_aspect_share_a_row_letterboxed():
    frames = [("wide", np.ones((20, 80, 3), np.float32)), ("square", np.ones((40, 40, 3), np.float32))]
    image = open_png(contact_sheet(frames, title="t", columns=2, tile_width=80))
    assert image.size == (PADDING + 2 * (80 + PADDING), TITLE_HEIGHT + 80 + LABEL_HEIGHT + PADDING)
    assert image.getpixel((PADDING + 40, TITLE_HEIGHT + 2)) == (0, 0, 0)  # bar above the wide frame
    assert min(image.getpixel((PADDING + 40, TITLE_HEIGHT + 40))) > 170  # scene 1.0 is code 180


def test_long_labels_do_not_spill_into_the_next_tile():
    long = [("x" * 200, shot_frame(0.5)), ("", shot_frame(0.5))]
    short = [("x", shot_frame(0.5)), ("", shot_frame(0.5))]
    a = np.asarray(open_png(contact_sheet(long, title="t", tile_width=96))).astype(int)
    b = np.asarray(open_png(contact_sheet(short, title="t", tile_width=96))).astype(int)
    _, cols = np.nonzero(np.abs(a - b).sum(axis=2))
    assert cols.size > 0 and cols.max() < PADDING + 96


def test_an_empty_sheet_is_refused():
    with pytest.raises(ValueError):
        contact_sheet([], title="nothing")
