"""Display transforms: ACEScg scene-linear pixels to 8-bit sRGB pictures."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.color.display import ACESCG_TO_REC709, thumbnail, to_display_srgb

AP1 = (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767)
REC709 = (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290)
BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


def grey(*values: float) -> np.ndarray:
    """A 1-row image of neutral pixels with the given scene-linear values."""
    return np.repeat(np.asarray(values, np.float32)[None, :, None], 3, axis=2)


def _rgb_to_xyz(c: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    primaries = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in zip(c[0:6:2], c[1:6:2])]).T
    white = np.array([c[6] / c[7], 1.0, (1 - c[6] - c[7]) / c[7]])
    return primaries * np.linalg.solve(primaries, white), white


def test_the_matrix_is_acescg_to_rec709_with_bradford_adaptation():
    ap1, d60 = _rgb_to_xyz(AP1)
    rec709, d65 = _rgb_to_xyz(REC709)
    cat = np.linalg.inv(BRADFORD) @ np.diag((BRADFORD @ d65) / (BRADFORD @ d60)) @ BRADFORD
    np.testing.assert_allclose(ACESCG_TO_REC709, np.linalg.inv(rec709) @ cat @ ap1, atol=1e-6)


def test_acescg_white_maps_to_display_white_so_greys_stay_neutral():
    np.testing.assert_allclose(ACESCG_TO_REC709.sum(axis=1), 1.0, atol=1e-6)
    out = to_display_srgb(grey(0.05, 0.18, 2.0))
    assert (out == out[..., :1]).all()


def test_black_stays_black():
    assert (to_display_srgb(grey(0.0)) == 0).all()


def test_mid_grey_lands_near_40_percent_signal():
    # 18% grey through the ACES-like curve and the sRGB OETF: about 0.41 (code 105);
    # a plain sRGB encode without tone mapping would give 118.
    code = int(to_display_srgb(grey(0.18))[0, 0, 0])
    assert 98 <= code <= 112


def test_the_picture_is_monotonic_over_a_wide_exposure_ramp():
    ramp = np.geomspace(1e-5, 1e4, 2000).astype(np.float32)
    codes = to_display_srgb(grey(*ramp))[0, :, 0].astype(int)
    assert (np.diff(codes) >= 0).all()
    assert codes[0] == 0 and codes[-1] == 255


def test_highlights_roll_off_rather_than_clip_at_scene_white():
    codes = to_display_srgb(grey(1.0, 2.0, 4.0, 8.0))[0, :, 0]
    assert codes[0] < 230  # 1.0 is not yet display white
    assert (np.diff(codes.astype(int)) > 0).all()  # detail above 1.0 survives


@pytest.mark.parametrize("value", [1000.0, 60000.0, np.inf])
def test_huge_highlights_saturate_to_white_without_wrapping(value):
    assert (to_display_srgb(grey(value)) == 255).all()


def test_negative_and_nan_inputs_give_valid_pixels():
    rgb = np.array([[[-1.0, -1.0, -1.0], [np.nan, 0.5, np.nan], [-np.inf, 0.18, 0.18]]], np.float32)
    out = to_display_srgb(rgb)
    assert out.dtype == np.uint8 and out.shape == (1, 3, 3)
    assert (out[0, 0] == 0).all()
    assert out[0, 1, 1] > 0  # a NaN channel does not poison its neighbours


def test_a_saturated_acescg_red_displays_as_red():
    r, g, b = to_display_srgb(np.array([[[1.0, 0.0, 0.0]]], np.float32))[0, 0]
    assert r > 200 and g == 0 and b == 0  # out of Rec.709 gamut: clipped, not wrapped


def test_one_stop_of_exposure_doubles_the_scene_light():
    np.testing.assert_array_equal(
        to_display_srgb(grey(0.09, 0.5), exposure_stops=1.0), to_display_srgb(grey(0.18, 1.0))
    )


def test_thumbnail_keeps_the_aspect_ratio():
    assert thumbnail(np.zeros((1080, 1920, 3), np.float32), 240).shape == (135, 240, 3)
    assert thumbnail(np.zeros((100, 50, 3), np.float32), 25).shape == (50, 25, 3)
    assert thumbnail(np.zeros((1, 1000, 3), np.float32), 10).shape == (1, 10, 3)


def test_thumbnail_averages_light_before_tone_mapping():
    # A fine 0/1 checkerboard is half as much light: it must look like 0.5, not
    # like the average of a black and a white display code.
    checker = (np.indices((64, 64)).sum(axis=0) % 2).astype(np.float32)
    thumb = thumbnail(np.repeat(checker[..., None], 3, axis=2), 16)
    assert (thumb == to_display_srgb(grey(0.5))[0, 0]).all()


def test_thumbnail_of_a_frame_with_nans_is_valid():
    rgb = np.full((40, 40, 3), 0.18, np.float32)
    rgb[::3, ::5] = np.nan
    thumb = thumbnail(rgb, 10)
    assert thumb.dtype == np.uint8 and thumb.min() > 0


def test_thumbnail_width_must_be_positive():
    with pytest.raises(ValueError):
        thumbnail(np.zeros((10, 10, 3), np.float32), 0)
