"""The band-by-band converter gives the codes and light levels of the whole-frame maths, bit for bit."""

import numpy as np
import pytest

from pipelines.color.pq import BT2020_KB, BT2020_KR, planar_ycbcr420
from pipelines.color.views import SDR_REC1886, hdr_pq, to_display_planar
from pipelines.master.convert import FrameConverter, Overlay
from pipelines.master.hdr10 import planar_light_levels
from pipelines.master.sdr import BT709_KB, BT709_KR, burn_overlay, burn_planes

W, H = 96, 70


def frame(seed: int, dtype=np.float32) -> np.ndarray:
    """Scene-linear values from deep shadow to far past the display peak, some out of gamut."""
    rng = np.random.default_rng(seed)
    rgb = np.exp2(rng.uniform(-12.0, 13.0, (H, W, 3))) * rng.choice([1.0, 1.0, 1.0, -0.01], (H, W, 3))
    return rgb.astype(dtype)


def _frame_planes(vf) -> list[np.ndarray]:
    dtype = np.uint8 if vf.format.name == "yuv420p" else np.uint16
    out = []
    for i, plane in enumerate(vf.planes):
        rows, cols = (vf.height, vf.width) if i == 0 else (vf.height // 2, vf.width // 2)
        out.append(np.frombuffer(plane, dtype=dtype).reshape(-1, plane.line_size // np.dtype(dtype).itemsize)[:rows, :cols].copy())
    return out


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("band_rows", [2, 8, 32, 256])
@pytest.mark.parametrize("exact", [False, True])
def test_hdr10_codes_and_light_levels_match_the_whole_frame_maths(band_rows, exact, threads):
    view = hdr_pq()
    convert = FrameConverter(
        view, width=W, height=H, kr=BT2020_KR, kb=BT2020_KB, bits=10, exact=exact, levels=True, band_rows=band_rows, threads=threads
    )
    for seed in range(2):
        rgb = frame(seed)
        display = to_display_planar(rgb, view, exact=exact)
        picture = convert(rgb)
        expected = planar_ycbcr420(*display, kr=BT2020_KR, kb=BT2020_KB, bits=10)
        for got, want in zip(_frame_planes(picture.frame), expected, strict=True):
            np.testing.assert_array_equal(got, want)
        assert picture.levels == planar_light_levels(*display)
        assert convert.light_levels(rgb) == picture.levels


def extremes() -> np.ndarray:
    """Zeros, denormals, large negatives, values past 10,000 nits and near float32's largest, all finite."""
    rng = np.random.default_rng(8)
    values = np.array([0.0, 1e-40, 1e-8, -1e-3, -0.5, -1e4, 1.0, 18.0, 1e4, 1e5, 1e9, 1e30, 3e38], np.float32)
    return rng.choice(values, (H, W, 3)).astype(np.float32)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("exact", [False, True])
def test_extreme_pixels_give_the_whole_frame_codes_and_light_levels(threads, exact):
    view = hdr_pq()
    convert = FrameConverter(view, width=W, height=H, kr=BT2020_KR, kb=BT2020_KB, bits=10, exact=exact, levels=True, band_rows=8, threads=threads)
    rgb = extremes()
    display = to_display_planar(rgb, view, exact=exact)
    picture = convert(rgb)
    expected = planar_ycbcr420(*display, kr=BT2020_KR, kb=BT2020_KB, bits=10)
    for got, want in zip(_frame_planes(picture.frame), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert picture.levels == planar_light_levels(*display)


@pytest.mark.parametrize("make", [lambda f: f.astype(np.float64), lambda f: np.asfortranarray(f), lambda f: f[:, ::-1]])
def test_any_layout_or_float_type_converts_as_packed_float32(make):
    convert = FrameConverter(SDR_REC1886, width=W, height=H, kr=BT709_KR, kb=BT709_KB, bits=8, band_rows=16)
    rgb = frame(3)
    other = make(rgb)
    want = _frame_planes(convert(np.ascontiguousarray(other, dtype=np.float32)).frame)
    for got, w in zip(_frame_planes(convert(other).frame), want, strict=True):
        np.testing.assert_array_equal(got, w)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("height", [70, 24, 12])
def test_a_burnt_in_label_matches_burning_the_whole_frame(height, threads):
    convert = FrameConverter(SDR_REC1886, width=W, height=height, kr=BT709_KR, kb=BT709_KB, bits=8, band_rows=4, threads=threads)
    rgb = frame(4)[:height]
    before = rgb.copy()
    display = burn_planes(to_display_planar(rgb, SDR_REC1886), "sh010  1012")
    expected = planar_ycbcr420(*display, kr=BT709_KR, kb=BT709_KB, bits=8)
    for got, want in zip(_frame_planes(convert(rgb, burn_overlay(height, "sh010  1012")).frame), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(rgb, before)  # the caller's pixels are never touched


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize(("rows", "seen"), [(11, 11), (H, H), (H + 5, H)])
def test_an_overlay_sees_exactly_its_rows(threads, rows, seen):
    shapes = []
    convert = FrameConverter(SDR_REC1886, width=W, height=H, kr=BT709_KR, kb=BT709_KB, bits=8, band_rows=8, threads=threads)
    picture = convert(frame(5), Overlay(rows=rows, draw=lambda band: shapes.append(band.shape)))
    assert shapes == [(3, seen, W)]
    plain = FrameConverter(SDR_REC1886, width=W, height=H, kr=BT709_KR, kb=BT709_KB, bits=8, threads=1)
    for got, want in zip(_frame_planes(picture.frame), _frame_planes(plain(frame(5)).frame), strict=True):
        np.testing.assert_array_equal(got, want)  # an overlay that draws nothing changes nothing


@pytest.mark.parametrize("row", [3, 12, 40, 69])
def test_refuses_non_finite_pixels_in_any_threads_band_and_wrong_shapes(row):
    convert = FrameConverter(hdr_pq(), width=W, height=H, kr=BT2020_KR, kb=BT2020_KB, bits=10, levels=True, band_rows=8, threads=2)
    rgb = frame(6)
    rgb[row, 3] = np.nan
    rgb[min(row + 1, H - 1), 7, 1] = np.inf
    with pytest.raises(ValueError, match="not finite"):
        convert(rgb)
    with pytest.raises(ValueError, match="not finite"):
        convert.light_levels(rgb)
    good = frame(7)
    display = to_display_planar(good, hdr_pq())
    assert convert(good).levels == planar_light_levels(*display)  # the converter still works after a failure
    with pytest.raises(ValueError, match="expected"):
        convert(frame(6)[:-2])
    with pytest.raises(ValueError, match="even"):
        FrameConverter(hdr_pq(), width=W, height=H, kr=BT2020_KR, kb=BT2020_KB, bits=10, band_rows=5)
    with pytest.raises(ValueError, match="threads"):
        FrameConverter(hdr_pq(), width=W, height=H, kr=BT2020_KR, kb=BT2020_KB, bits=10, threads=0)
