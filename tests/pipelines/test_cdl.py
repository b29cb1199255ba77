import numpy as np
import PyOpenColorIO as ocio
import pytest
import torch

from pipelines.color.cdl import CDL

GRADE = CDL(slope=(1.1, 0.9, 1.3), offset=(0.01, 0.02, 0.0), power=(1.2, 0.8, 1.05), saturation=1.3)


def _ocio_cdl(cdl: CDL, rgb: np.ndarray) -> np.ndarray:
    t = ocio.CDLTransform()
    t.setStyle(ocio.CDL_NO_CLAMP)
    t.setSlope(list(cdl.slope))
    t.setOffset(list(cdl.offset))
    t.setPower(list(cdl.power))
    t.setSat(cdl.saturation)
    # LOSSLESS: the default optimisation uses a fast pow approximation (~1e-4 off).
    proc = ocio.Config.CreateRaw().getProcessor(t).getOptimizedCPUProcessor(
        ocio.BIT_DEPTH_F32, ocio.BIT_DEPTH_F32, ocio.OPTIMIZATION_LOSSLESS
    )
    out = np.ascontiguousarray(rgb, dtype=np.float32).copy()
    proc.applyRGB(out)
    return out


def test_matches_ocio_no_clamp_on_hdr_values():
    rng = np.random.default_rng(7)
    rgb = rng.uniform(0.0, 8.0, (64, 64, 3)).astype(np.float32)
    assert rgb.max() > 1.0
    np.testing.assert_allclose(GRADE.apply(rgb), _ocio_cdl(GRADE, rgb), rtol=1e-5, atol=1e-5)


def test_highlights_are_not_clamped():
    out = CDL(slope=(1.1, 1.1, 1.1)).apply(np.full((1, 1, 3), 4.0, np.float32))
    np.testing.assert_allclose(out, 4.4, rtol=1e-6)


def test_negatives_clamp_before_power():
    cdl = CDL(offset=(-0.5, -0.5, -0.5), power=(0.5, 0.5, 0.5))
    out = cdl.apply(np.array([[[0.1, 0.25, 0.5 + 0.25]]], np.float32))
    # 0.1 - 0.5 < 0 -> 0 (not NaN from a fractional power of a negative); 0.25 -> 0.5
    np.testing.assert_allclose(out, [[[0.0, 0.0, 0.5]]], atol=1e-7)
    assert np.isfinite(out).all()


def test_identity_is_identity():
    rng = np.random.default_rng(1)
    rgb = rng.uniform(0.0, 20.0, (8, 8, 3)).astype(np.float32)
    assert CDL().is_identity and not GRADE.is_identity
    np.testing.assert_array_equal(CDL().apply(rgb), rgb)


def test_numpy_and_torch_agree_and_keep_their_kind():
    rng = np.random.default_rng(3)
    rgb = rng.uniform(-0.5, 6.0, (16, 16, 3)).astype(np.float32)
    a = GRADE.apply(rgb)
    t = GRADE.apply(torch.from_numpy(rgb))
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    np.testing.assert_allclose(t.numpy(), a, rtol=1e-6, atol=1e-6)


def test_float64_stays_float64_and_ints_are_refused():
    assert GRADE.apply(np.ones((2, 2, 3))).dtype == np.float64
    with pytest.raises(TypeError):
        GRADE.apply(np.ones((2, 2, 3), np.uint8))


def test_asc_sop_text():
    assert GRADE.as_asc_sop() == "(1.1 0.9 1.3)(0.01 0.02 0)(1.2 0.8 1.05)"
