"""Pictures for eyes: ACEScg scene-linear pixels to 8-bit sRGB through the ACES 2.0 SDR view."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.color.display import thumbnail, to_display_srgb
from pipelines.color.views import SDR_SRGB, to_display


def grey(*values: float) -> np.ndarray:
    """A 1-row image of neutral pixels with the given scene-linear values."""
    return np.repeat(np.asarray(values, np.float32)[None, :, None], 3, axis=2)


def test_the_picture_is_the_configs_srgb_aces_2_view_in_8_bits():
    rng = np.random.default_rng(4)
    rgb = np.exp(rng.normal(-1.7, 1.8, (32, 32, 3))).astype(np.float32)
    exact = np.rint(to_display(rgb, SDR_SRGB, exact=True) * 255.0)
    np.testing.assert_array_equal(to_display_srgb(rgb, exact=True), exact)
    # These colours are mostly out of gamut: the baked view's stated worst case applies.
    assert np.abs(to_display_srgb(rgb).astype(int) - exact).max() <= 45


def test_greys_stay_neutral():
    out = to_display_srgb(grey(0.05, 0.18, 2.0))
    assert (out == out[..., :1]).all()


def test_black_stays_black():
    assert (to_display_srgb(grey(0.0)) == 0).all()


def test_mid_grey_lands_on_code_89():
    # The ACES 2.0 SDR view puts 18% grey at 10 nits of 100: sRGB code 89. A
    # plain sRGB encode without tone mapping would give 118.
    assert int(to_display_srgb(grey(0.18))[0, 0, 0]) == 89


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
    assert r > 200 and g < 8 and b < 16  # out of Rec.709 gamut: mapped into it, not wrapped


def test_one_stop_of_exposure_doubles_the_scene_light():
    np.testing.assert_array_equal(
        to_display_srgb(grey(0.09, 0.5), exposure_stops=1.0, exact=True), to_display_srgb(grey(0.18, 1.0), exact=True)
    )


def test_exposure_cannot_overflow_a_bright_pixel_into_nan():
    assert (to_display_srgb(grey(60000.0), exposure_stops=16.0) == 255).all()


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
