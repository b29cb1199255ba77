"""The C loops give numpy's codes, light levels and half floats, bit for bit, and numpy stands in without a compiler."""

import os
import shutil
from fractions import Fraction

import numpy as np
import pytest

from pipelines import fused
from pipelines.color.pq import BT2020_KB, BT2020_KR, MEAN_STEPS, nits_table, sum_nits_of_steps, ycbcr420_into, ycbcr_matrix
from pipelines.color.views import hdr_pq
from pipelines.exr import HALF_MAX, encode_frame
from pipelines.master.convert import FrameConverter

# In CI a missing C compiler is a broken image and must fail, not fall back unnoticed.
needs_kernel = pytest.mark.skipif(fused.library() is None and not os.environ.get("CI"), reason="no C compiler: the numpy path runs alone")


def band(seed: int, rows: int, width: int) -> np.ndarray:
    """Display planes in [0, 1]: random values, the ends, and values on the codes' rounding ties."""
    rng = np.random.default_rng(seed)
    planes = rng.random((3, rows, width), dtype=np.float32)
    flat = planes.reshape(3, -1)
    n = flat.shape[1] // 4
    flat[:, :n] = rng.choice(np.float32([0.0, 1.0, 0.5]), (3, n))
    # Ties: k + 1/2 luma codes of grey (R' = G' = B'), and 1/2-step light-level signals.
    k = rng.integers(0, 876, n)
    flat[:, n : 2 * n] = ((k + 0.5) / 876.0).astype(np.float32)
    flat[:, 2 * n : 3 * n] = ((rng.integers(0, MEAN_STEPS, n) + 0.5) / MEAN_STEPS).astype(np.float32)
    return planes


def numpy_path(planes: np.ndarray, bits: int, measure: bool) -> tuple[list[np.ndarray], tuple[float, float]]:
    rows, width = planes.shape[1:]
    code = np.uint16 if bits > 8 else np.uint8
    out = [np.zeros((rows, width), code), np.zeros((rows // 2, width // 2), code), np.zeros((rows // 2, width // 2), code)]
    ycbcr420_into(planes[0], planes[1], planes[2], tuple(out), kr=BT2020_KR, kb=BT2020_KB, bits=bits)
    levels = (0.0, 0.0)
    if measure:
        m = np.maximum(np.maximum(planes[0], planes[1]), planes[2])
        steps = np.rint(m * np.float32(MEAN_STEPS)).astype(np.uint16)
        levels = (float(m.max()), sum_nits_of_steps(steps))
    return out, levels


def fused_path(planes: np.ndarray, bits: int, measure: bool, pad: int = 0) -> tuple[list[np.ndarray], tuple[float, float]]:
    rows, width = planes.shape[1:]
    code = np.uint16 if bits > 8 else np.uint8
    # Padded rows, as an encoder frame's planes have (line_size past the width).
    out = [np.zeros((rows, width + pad), code), np.zeros((rows // 2, width // 2 + pad), code), np.zeros((rows // 2, width // 2 + pad), code)]
    views = (out[0][:, :width], out[1][:, : width // 2], out[2][:, : width // 2])
    m = ycbcr_matrix(BT2020_KR, BT2020_KB, bits)
    levels = fused.ycbcr_levels(
        planes, views, luma=m.luma, cb=m.cb, cr=m.cr, luma_offset=m.luma_offset, chroma_offset=m.chroma_offset,
        top=m.top, table=nits_table() if measure else None, steps=MEAN_STEPS,
    )  # fmt: skip
    return [v.copy() for v in views], levels


@needs_kernel
@pytest.mark.parametrize("bits", [10, 8])
@pytest.mark.parametrize("measure", [True, False])
def test_the_fused_pass_gives_numpys_codes_and_light_levels_bit_for_bit(bits, measure):
    for seed, (rows, width) in enumerate([(2, 2), (8, 96), (136, 1920), (34, 250)]):
        planes = band(seed, rows, width)
        want_codes, want_levels = numpy_path(planes, bits, measure)
        got_codes, got_levels = fused_path(planes, bits, measure, pad=seed * 16)
        for got, want in zip(got_codes, want_codes, strict=True):
            np.testing.assert_array_equal(got, want)
        assert got_levels == want_levels


@needs_kernel
def test_a_band_of_a_larger_buffer_and_bad_shapes():
    display = band(7, 40, 64)
    planes = display[:, :20]  # a converter's band: fewer rows than its buffer
    assert fused_path(planes, 10, True)[1] == numpy_path(np.ascontiguousarray(planes), 10, True)[1]
    with pytest.raises(ValueError, match="even size"):
        fused_path(display[:, :3], 10, True)
    m = ycbcr_matrix(BT2020_KR, BT2020_KB, 10)
    wrong = (np.zeros((20, 64), np.uint8), np.zeros((10, 32), np.uint8), np.zeros((10, 32), np.uint16))
    with pytest.raises(ValueError, match="code planes"):
        fused.ycbcr_levels(planes, wrong, luma=m.luma, cb=m.cb, cr=m.cr, luma_offset=m.luma_offset,
                           chroma_offset=m.chroma_offset, top=m.top, table=None, steps=MEAN_STEPS)  # fmt: skip


def test_without_a_compiler_the_converter_uses_numpy_and_makes_the_same_pictures(monkeypatch):
    rgb = np.exp2(np.random.default_rng(3).uniform(-10.0, 12.0, (36, 64, 3))).astype(np.float32)

    def pictures() -> tuple[list[bytes], tuple[float, float] | None]:
        convert = FrameConverter(hdr_pq(), width=64, height=36, kr=BT2020_KR, kb=BT2020_KB, bits=10, levels=True)
        picture = convert(rgb)
        return [bytes(p) for p in picture.frame.planes], picture.levels

    with_kernel = pictures()
    fused.library.cache_clear()
    fused.halves.cache_clear()
    monkeypatch.setattr(fused.shutil, "which", lambda name: None)
    try:
        assert fused.library() is None and not fused.halves()
        assert not FrameConverter(hdr_pq(), width=64, height=36, kr=BT2020_KR, kb=BT2020_KB, bits=10).fused
        assert pictures() == with_kernel
    finally:
        monkeypatch.undo()
        fused.library.cache_clear()
        fused.halves.cache_clear()
    assert (fused.library() is not None) == (shutil.which(os.environ.get("CC", "cc")) is not None or shutil.which("gcc") is not None)


needs_f16c = pytest.mark.skipif(not fused.halves(), reason="no kernel, or a CPU without F16C: numpy converts to half")


def half_cases() -> np.ndarray:
    """Random float32 bit patterns within half's range, every half value, and every tie between two."""
    rng = np.random.default_rng(11)
    v = rng.integers(0, 2**32, 2_000_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    v = v[np.isfinite(v) & (np.abs(v) <= HALF_MAX)]
    every = np.arange(0, 0x7C00, dtype=np.uint16).view(np.float16).astype(np.float64)
    ties = (every[:-1] + every[1:]) / 2  # exact in float32: halves have 11 significant bits
    edges = np.float32([0.0, -0.0, HALF_MAX, 1e-40, -1e-40, 2.0**-25, 2.0**-24])
    return np.concatenate([v, every.astype(np.float32), ties.astype(np.float32), -ties.astype(np.float32), edges])


@needs_f16c
def test_half_floats_are_numpys_bit_for_bit():
    values = half_cases()
    for n in (len(values), 7, 1):  # the 8-wide loop and the tail
        got = np.empty(n, np.float16)
        fused.to_half(values[:n], got)
        np.testing.assert_array_equal(got.view(np.uint16), values[:n].astype(np.float16).view(np.uint16))


@needs_f16c
def test_an_exr_master_frame_is_the_same_bytes_with_numpys_halves(monkeypatch):
    rgb = np.exp2(np.random.default_rng(5).uniform(-20.0, 15.0, (270, 480, 3))).astype(np.float32)
    attributes = {"shot": "sh010", "frame": 1001}
    fast = encode_frame(rgb, fps=Fraction(24), timecode=(1, 0, 0, 0), attributes=attributes)
    with pytest.raises(ValueError, match="C-contiguous"):
        fused.to_half(rgb[:, ::2], np.empty((270, 240, 3), np.float16))
    monkeypatch.setattr(fused, "halves", lambda: False)
    assert encode_frame(rgb, fps=Fraction(24), timecode=(1, 0, 0, 0), attributes=attributes) == fast
