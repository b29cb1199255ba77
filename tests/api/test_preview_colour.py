"""Web previews show a stored frame, graded, through the same ACES 2.0 sRGB view as the contact sheet."""

from __future__ import annotations

import io
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from nodes.storage.local import LocalStore
from orchestrator.api.routes.previews import _render
from orchestrator.core.events import FrameRecord
from pipelines.color.cdl import CDL
from pipelines.color.display import thumbnail
from pipelines.exr import encode_frame


def stored(store: LocalStore, pixels: np.ndarray) -> FrameRecord:
    data = encode_frame(pixels, fps=Fraction(24), timecode=(1, 0, 0, 0), attributes={"shot": "sh010"})
    key = "demo/sq010/shots/sh010/v1/a1/001001.exr"
    return FrameRecord(frame=1001, key=key, digest=store.put(key, data))


def png_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path)


def test_a_preview_of_mid_grey_shows_the_views_code_89(store):
    record = stored(store, np.full((18, 32, 3), 0.18, np.float32))
    assert (png_pixels(_render(store, record, (), 16, 0.0)) == 89).all()


def test_exposure_is_added_in_scene_light_before_the_view(store):
    record = stored(store, np.full((18, 32, 3), 0.09, np.float32))
    assert (png_pixels(_render(store, record, (), 16, 1.0)) == 89).all()


def test_a_preview_is_the_graded_frames_thumbnail(store):
    rng = np.random.default_rng(2)
    pixels = np.exp(rng.normal(-1.5, 1.2, (36, 64, 3))).astype(np.float16).astype(np.float32)
    grade = CDL(slope=(1.2, 1.0, 0.8), offset=(0.0, 0.01, 0.0), power=(1.0, 1.0, 1.1), saturation=1.1)
    shown = png_pixels(_render(store, stored(store, pixels), (grade,), 32, 0.0))
    np.testing.assert_array_equal(shown, thumbnail(grade.apply(pixels), 32))
