"""Display views from the pinned OCIO config: what they give, and how close the baked ones are."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.color import pq
from pipelines.color.views import (
    PEAKS_NITS,
    SDR_REC1886,
    SDR_SRGB,
    View,
    config,
    describe,
    hdr_pq,
    to_display,
    to_display_planar,
)

SDR_VIEWS = [SDR_SRGB, SDR_REC1886]
EVERY_VIEW = [*SDR_VIEWS, *(hdr_pq(p) for p in PEAKS_NITS)]
N = 40_000  # colours per set; the module docstring's figures used 200,000


def grey(*values: float) -> np.ndarray:
    return np.repeat(np.asarray(values, np.float32)[None, :, None], 3, axis=2)


def _to_acescg(space: str, rgb: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(rgb, dtype=np.float32)
    config().getProcessor(space, "ACEScg").getDefaultCPUProcessor().applyRGB(out)
    return out


def in_gamut(space: str, seed: int) -> np.ndarray:
    """Realistic colours: inside ``space``'s gamut, at 0.001..16 scene-linear, as ACEScg (1, N, 3)."""
    rng = np.random.default_rng(seed)
    chroma = rng.random((N, 3))
    chroma /= chroma.max(axis=1, keepdims=True)
    level = np.exp(rng.uniform(np.log(0.001), np.log(16.0), (N, 1)))
    return _to_acescg(space, chroma * level)[None]


def saturated(seed: int) -> np.ndarray:
    """Out of AP1 and past every display gamut: ACEScg at -0.3..1 of a level 0.001..100."""
    rng = np.random.default_rng(seed)
    level = np.exp(rng.uniform(np.log(0.001), np.log(100.0), (N, 1)))
    return (rng.uniform(-0.3, 1.0, (N, 3)) * level).astype(np.float32)[None]


REALISTIC = {"Rec.709": lambda: in_gamut("Linear Rec.709 (sRGB)", 11), "P3": lambda: in_gamut("Linear P3-D65", 12)}


def codes_off(view: View, rgb: np.ndarray, scale: float) -> np.ndarray:
    return np.abs(to_display(rgb, view) - to_display(rgb, view, exact=True)).astype(np.float64) * scale


@pytest.mark.parametrize("view", EVERY_VIEW, ids=lambda v: v.name)
def test_every_view_is_one_the_pinned_config_has(view):
    assert view.display in config().getDisplays()
    assert view.view in config().getViews(view.display)


# Bounds in 8-bit codes, as pipelines.color.views states them (measured on 200,000
# colours per set: Rec.709 p99.9 0.55 and max 3.8, P3 max 14, saturated max 35).
@pytest.mark.parametrize("view", SDR_VIEWS, ids=lambda v: v.display)
@pytest.mark.parametrize("colours, worst", [("Rec.709", 4.0), ("P3", 15.0), ("saturated", 40.0)])
def test_baked_sdr_views_stay_within_their_stated_bound_of_the_exact_view(view, colours, worst):
    rgb = saturated(13) if colours == "saturated" else REALISTIC[colours]()
    err = codes_off(view, rgb, 255.0)
    assert np.median(err) < 0.05
    assert np.percentile(err, 99) < 1.0
    if colours != "saturated":
        assert np.percentile(err, 99.9) < 2.0
    assert err.max() <= worst


# 10-bit narrow-range codes; measured: realistic p99.9 1.2 and max 6.8, saturated p99 0.8 and max 94.
@pytest.mark.parametrize("colours, worst", [("Rec.709", 8.0), ("P3", 8.0), ("saturated", 100.0)])
def test_baked_hdr_view_stays_within_its_stated_bound_of_the_exact_view(colours, worst):
    rgb = saturated(14) if colours == "saturated" else REALISTIC[colours]()
    err = codes_off(hdr_pq(1000), rgb, 876.0)
    assert np.median(err) < 0.1
    assert np.percentile(err, 99) < 1.0
    if colours != "saturated":
        assert np.percentile(err, 99.9) < 2.0
    assert err.max() <= worst


def test_sdr_grey_axis_matches_the_aces_2_sdr_view():
    codes = np.rint(to_display(grey(0.0, 0.18, 1.0, 128.0), SDR_SRGB) * 255.0)[0, :, 1]
    np.testing.assert_array_equal(codes, [0, 89, 180, 255])  # the old fitted ACES 1.0 curve gave 105 and 214


@pytest.mark.parametrize("view", EVERY_VIEW, ids=lambda v: v.name)
def test_neutrals_stay_neutral_and_the_picture_is_monotonic(view):
    out = to_display(grey(*np.geomspace(1e-4, 1e5, 600)), view)[0]
    np.testing.assert_allclose(out[:, 0], out[:, 2], atol=2e-4)
    assert (np.diff(out[:, 1]) >= -1e-6).all()


def test_hdr_grey_axis():
    nits = pq.pq_decode(to_display(grey(0.0, 0.18, 1.0, 16.0, 10000.0), hdr_pq(1000))[0, :, 1])
    assert nits[0] < 0.01
    assert nits[1] == pytest.approx(14.5, abs=0.3)  # ACES 2.0 1000-nit view: mid grey
    assert nits[2] == pytest.approx(106.6, abs=1.0)
    assert nits[3] == pytest.approx(705.0, abs=5.0)
    assert nits[4] == pytest.approx(1000.0, abs=0.05)  # the display peak, exactly


@pytest.mark.parametrize("peak", PEAKS_NITS)
def test_each_hdr_view_rolls_off_to_its_peak(peak):
    nits = pq.pq_decode(to_display(grey(*np.geomspace(1e-3, 1e5, 400)), hdr_pq(peak))[0, :, 1])
    assert np.all(np.diff(nits) >= -1e-6)
    assert nits.max() <= peak + 0.05
    assert nits[-1] == pytest.approx(peak, abs=1)


def test_planar_and_packed_results_agree():
    rgb = in_gamut("Linear P3-D65", 3)[:, :64]
    np.testing.assert_array_equal(to_display_planar(rgb, SDR_REC1886).transpose(1, 2, 0), to_display(rgb, SDR_REC1886))


def test_a_reused_output_buffer_gives_the_same_planes_and_is_what_is_returned():
    rgb = in_gamut("Linear P3-D65", 3)[:, :64]
    out = np.full((3,) + rgb.shape[:2], np.nan, np.float32)  # stale contents must not leak through
    got = to_display_planar(rgb, hdr_pq(), out=out)
    assert got is out
    np.testing.assert_array_equal(got, to_display_planar(rgb, hdr_pq()))


@pytest.mark.parametrize(
    "out",
    [np.empty((3, 2, 3), np.float32), np.empty((3, 2, 2), np.float64), np.empty((2, 2, 3), np.float32).transpose(2, 0, 1)],
    ids=["wrong shape", "float64", "not contiguous"],
)
def test_an_output_buffer_that_does_not_fit_is_refused(out):
    with pytest.raises(ValueError, match="out must be"):
        to_display_planar(np.full((2, 2, 3), 0.5, np.float32), SDR_SRGB, out=out)


def test_float64_and_float32_input_give_the_same_planes():
    rgb = in_gamut("Linear P3-D65", 3)[:, :64]
    np.testing.assert_array_equal(
        to_display_planar(rgb.astype(np.float64), SDR_REC1886), to_display_planar(rgb.astype(np.float32), SDR_REC1886)
    )


@pytest.mark.parametrize("exact", [False, True])
def test_views_refuse_bad_input_and_keep_their_input(exact):
    rgb = np.full((2, 2, 3), 0.5, np.float32)
    before = rgb.copy()
    to_display(rgb, SDR_SRGB, exact=exact)
    np.testing.assert_array_equal(rgb, before)
    rgb[0, 0, 1] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        to_display(rgb, hdr_pq(), exact=exact)
    with pytest.raises(ValueError, match="H, W, 3"):
        to_display(np.zeros((4, 3), np.float32), SDR_SRGB, exact=exact)


def test_a_display_without_an_hdr_view_of_that_peak_is_refused():
    with pytest.raises(ValueError, match="HDR view"):
        hdr_pq(1234)


def test_the_transform_is_named_with_its_config_view_and_method():
    assert describe(hdr_pq(1000)) == (
        "ocio://studio-config-v5.0.0_aces-v2.1_ocio-v2.6 | Rec.2100-PQ - Display | "
        "ACES 2.0 - HDR 1000 nits (P3 D65) | 129^3 LUT"
    )
    assert describe(SDR_REC1886, exact=True).endswith("Rec.1886 Rec.709 - Display | ACES 2.0 - SDR 100 nits (Rec.709) | exact")
