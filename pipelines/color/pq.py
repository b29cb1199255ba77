"""SMPTE ST 2084 (PQ) and the HDR10 output transform for scene-linear ACEScg.

What is here:
- ``pq_encode`` / ``pq_decode``: the PQ curve between absolute luminance
  (cd/m^2, "nits") and the 0..1 signal, in float64.
- ``ACESCG_TO_BT2020``: the linear gamut matrix (Bradford, D60 -> D65).
- ``acescg_to_pq_bt2020``: the output transform that turns a scene-linear
  ACEScg master frame into display-referred, PQ-encoded BT.2020 R'G'B' for a
  1000-nit mastering display (or 500/2000/4000).
- ``narrow_code`` / ``pq_to_code10``: narrow ("video") range code values.

Why the output transform is OCIO's ACES 2.0 view baked into a 65^3 LUT:
the reference is the studio config's ``Rec.2100-PQ - Display`` /
``ACES 2.0 - HDR <peak> nits (P3 D65)`` view (P3-limited, to match the
P3-D65 mastering display the HDR10 metadata declares). Evaluated directly by
OCIO it costs 0.93-1.4 s per 1920x1080 frame on the 2-core CI-class machine,
several times what x265 spends encoding the frame. A parametric curve was the
other candidate: the ACES 2.0 tonescale itself reproduces OCIO's grey axis to
0.001 nit (0.18 -> 14.51, 1.0 -> 106.56, 16 -> 705.2 nits), but ACES 2.0 tone
maps lightness in a colour-appearance space with gamut compression, so any
per-channel or ratio-preserving curve drifts on saturated colours. Baking
keeps the real transform: the exact view is sampled once per process on a
65^3 grid in ACEScct (0.2 s), and OCIO's SIMD tetrahedral interpolation
applies it at 70-160 ms per 1080p frame (measured; it varies with machine
load), about 10x faster. Against the exact view, in 10-bit PQ codes:
realistic colours median 0.09 / p99 1.0 / max 4 codes; neutrals within 1.6
codes (the worst just above black, at 0.002 nit); deliberately extreme
out-of-gamut colours p99 3.6. A 33^3 grid was 3x worse, 97^3 only 1.5x
better for 3x the bake time.

The config is pinned by name (not ``studio-config-latest``) so an OCIO
upgrade can never silently change the look of a delivered master.

This module must never write files or encode video, and must never read
the scene-linear pixels it is given for anything but this transform.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import numpy as np
import PyOpenColorIO as ocio

# SMPTE ST 2084 constants.
M1 = 2610 / 16384
M2 = 2523 / 4096 * 128
C1 = 3424 / 4096
C2 = 2413 / 4096 * 32
C3 = 2392 / 4096 * 32
PQ_PEAK_NITS = 10000.0

# Linear ACEScg (AP1, D60) -> linear BT.2020 (D65), Bradford adaptation.
ACESCG_TO_BT2020 = np.array(
    [
        [1.025825, -0.020053, -0.005772],
        [-0.002234, 1.004587, -0.002352],
        [-0.005013, -0.025290, 1.030303],
    ],
    dtype=np.float64,
)

# BT.2020 non-constant-luminance Y'CbCr coefficients.
BT2020_KR, BT2020_KB = 0.2627, 0.0593

OCIO_CONFIG = "ocio://studio-config-v5.0.0_aces-v2.1_ocio-v2.6"
OCIO_DISPLAY = "Rec.2100-PQ - Display"
PEAKS_NITS = (500, 1000, 2000, 4000)  # the HDR views the config has
LUT_SIZE = 65
# ACEScct value mapped to the top of the LUT: 2**(1.5 * 17.52 - 9.72) is
# about 97,000 scene-linear, far past where every view has reached its peak.
# The bottom (ACEScct 0) is -0.0069 linear, so slightly negative
# (out-of-AP1) values still land inside the LUT.
_SHAPER_TOP = 1.5


def pq_encode(nits: np.ndarray | float) -> np.ndarray:
    """Absolute luminance in cd/m^2 -> PQ signal E' in [0, 1] (float64)."""
    y = np.clip(np.asarray(nits, dtype=np.float64) / PQ_PEAK_NITS, 0.0, 1.0)
    ym = np.power(y, M1)
    return np.power((C1 + C2 * ym) / (1.0 + C3 * ym), M2)


def pq_decode(signal: np.ndarray | float) -> np.ndarray:
    """PQ signal E' in [0, 1] -> absolute luminance in cd/m^2 (float64)."""
    p = np.power(np.clip(np.asarray(signal, dtype=np.float64), 0.0, 1.0), 1.0 / M2)
    return PQ_PEAK_NITS * np.power(np.maximum(p - C1, 0.0) / (C2 - C3 * p), 1.0 / M1)


def pq_decode_f32(signal: np.ndarray) -> np.ndarray:
    """``pq_decode`` computed in float32: ~3x faster, relative error < 1e-4.

    The error is worst near 10,000 nits (cancellation in C2 - C3 * p, then
    the 1/M1 = 6.3 power); up to 1000 nits it stays under 0.05 nit. For averages
    over millions of pixels per frame (MaxFALL), where float64 pows would
    cost more than the rest of the frame's colour work.
    """
    f32 = np.float32
    p = np.power(np.clip(np.asarray(signal, dtype=f32), f32(0.0), f32(1.0)), f32(1.0 / M2))
    ratio = np.maximum(p - f32(C1), f32(0.0))
    ratio /= f32(C2) - f32(C3) * p
    return f32(PQ_PEAK_NITS) * np.power(ratio, f32(1.0 / M1))


def narrow_code(value: np.ndarray | float, *, bits: int = 10, chroma: bool = False) -> np.ndarray:
    """Narrow-range integer codes: luma 16..235 and chroma 16..240, scaled to ``bits``.

    ``value`` is Y' or R'G'B' in [0, 1], or, with ``chroma``, Cb/Cr in
    [-0.5, 0.5]. In 10 bits that is Y' = 64 + 876 E' and C = 512 + 896 C'.
    """
    scale = float(1 << (bits - 8))
    v = np.asarray(value, dtype=np.float64)
    code = (128.0 + 224.0 * v) * scale if chroma else (16.0 + 219.0 * v) * scale
    return np.clip(np.rint(code), 0, (1 << bits) - 1).astype(np.uint16)


def pq_to_code10(signal: np.ndarray | float, *, chroma: bool = False) -> np.ndarray:
    """10-bit narrow-range codes for PQ Y' (64 + 876 E') or Cb/Cr (512 + 896 C')."""
    return narrow_code(signal, bits=10, chroma=chroma)


def output_transform_name(peak_nits: int = 1000) -> str:
    """Human-readable name of the transform, for reports and file metadata."""
    return f"{OCIO_CONFIG} | {OCIO_DISPLAY} | {_view(peak_nits)} | {LUT_SIZE}^3 LUT"


def _view(peak_nits: int) -> str:
    if peak_nits not in PEAKS_NITS:
        raise ValueError(f"no ACES 2.0 HDR view for a {peak_nits}-nit display; choose one of {PEAKS_NITS}")
    return f"ACES 2.0 - HDR {peak_nits} nits (P3 D65)"


@functools.cache
def _config() -> Any:
    return ocio.Config.CreateFromFile(OCIO_CONFIG)


# functools.cache may run the factory twice under a race; a bake is 0.2 s
# of CPU and 3 MB, so make it once.
_bake_lock = threading.Lock()


@functools.cache
def _baked(peak_nits: int) -> tuple[Any, np.ndarray]:
    """(CPU processor, LUT samples) for the baked view; the samples are kept
    alive alongside the processor because OCIO may reference the buffer."""
    with _bake_lock:
        cfg = _config()
        view = ocio.DisplayViewTransform(src="ACEScg", display=OCIO_DISPLAY, view=_view(peak_nits))
        axis = np.linspace(0.0, _SHAPER_TOP, LUT_SIZE, dtype=np.float32)
        # OCIO's Lut3D data is ordered with blue changing fastest.
        r, g, b = np.meshgrid(axis, axis, axis, indexing="ij")
        samples = np.ascontiguousarray(np.stack([r, g, b], axis=-1).reshape(-1, 3))
        exact = cfg.getProcessor(ocio.GroupTransform([ocio.ColorSpaceTransform(src="ACEScct", dst="ACEScg"), view]))
        exact.getDefaultCPUProcessor().applyRGB(samples)
        lut = ocio.Lut3DTransform()
        lut.setGridSize(LUT_SIZE)
        lut.setData(samples.ravel())
        lut.setInterpolation(ocio.INTERP_TETRAHEDRAL)
        k = 1.0 / _SHAPER_TOP
        shaper_to_unit = ocio.MatrixTransform(matrix=[k, 0, 0, 0, 0, k, 0, 0, 0, 0, k, 0, 0, 0, 0, 1])
        group = ocio.GroupTransform([ocio.ColorSpaceTransform(src="ACEScg", dst="ACEScct"), shaper_to_unit, lut])
        proc = cfg.getProcessor(group).getOptimizedCPUProcessor(ocio.OPTIMIZATION_DEFAULT)
        return proc, samples


def acescg_to_pq_bt2020(rgb: np.ndarray, peak_nits: int = 1000) -> np.ndarray:
    """Scene-linear ACEScg (H, W, 3) -> PQ-encoded BT.2020 R'G'B' float32 in [0, 1].

    Display-referred for a ``peak_nits`` mastering display: ACEScg 0.18 lands
    at ~14.5 nits and highlights roll off smoothly to the peak. The input is
    not modified. Non-finite pixels are refused: OCIO would silently turn a
    NaN into a plausible colour.
    """
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) array, got {getattr(rgb, 'shape', type(rgb))}")
    proc, _ = _baked(peak_nits)
    out = np.array(rgb, dtype=np.float32, order="C", copy=True)  # OCIO works in place
    _refuse_non_finite(out)
    proc.applyRGB(out)
    # Extreme out-of-gamut inputs can leave the view slightly outside [0, 1].
    return np.clip(out, 0.0, 1.0, out=out)


def _refuse_non_finite(rgb: np.ndarray) -> None:
    # One cheap pass: NaN and inf propagate through a sum. Only a sum that
    # overflows from huge finite values needs the exact per-pixel look.
    if np.isfinite(rgb.sum()):
        return
    bad = int((~np.isfinite(rgb)).any(axis=2).sum())
    if bad:
        raise ValueError(f"{bad} pixels are not finite (NaN or inf); the master must not contain them")


def exact_acescg_to_pq_bt2020(rgb: np.ndarray, peak_nits: int = 1000) -> np.ndarray:
    """The unbaked reference view (about 1 s per 1080p frame): for checking the LUT."""
    cfg = _config()
    view = ocio.DisplayViewTransform(src="ACEScg", display=OCIO_DISPLAY, view=_view(peak_nits))
    out = np.array(rgb, dtype=np.float32, order="C", copy=True)
    _refuse_non_finite(out)
    cfg.getProcessor(view).getDefaultCPUProcessor().applyRGB(out)
    return np.clip(out, 0.0, 1.0, out=out)
