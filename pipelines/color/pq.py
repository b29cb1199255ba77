"""SMPTE ST 2084 (PQ) and the narrow-range Y'CbCr maths of the video deliverables.

What is here:
- ``pq_encode`` / ``pq_decode``: the PQ curve between absolute luminance
  (cd/m^2, "nits") and the 0..1 signal, in float64.
- ``ACESCG_TO_BT2020``: the linear gamut matrix (Bradford, D60 -> D65).
- ``narrow_code`` / ``pq_to_code10``: narrow ("video") range code values,
  and ``ycbcr420``: R'G'B' to narrow-range 4:2:0 Y'CbCr planes with any
  non-constant-luminance matrix (BT.2020 here, BT.709 for SDR proxies),
  computed exactly rather than left to swscale's guesses.

The output transform from scene-linear ACEScg to PQ is not here: it is the
pinned OCIO config's ACES 2.0 view, owned by pipelines.color.views with
every other display transform.

This module must never write files or encode video, and never modify the
pixels it is given.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

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
    # In place on one scratch array plus one denominator: allocation-free passes.
    p = np.clip(np.asarray(signal, dtype=f32), f32(0.0), f32(1.0))
    np.power(p, f32(1.0 / M2), out=p)
    den = p * f32(-C3)
    den += f32(C2)
    p -= f32(C1)
    np.maximum(p, f32(0.0), out=p)
    p /= den
    np.power(p, f32(1.0 / M1), out=p)
    p *= f32(PQ_PEAK_NITS)
    return p


MEAN_STEPS = 65535
"""PQ signal steps of the mean-luminance table (pq_mean_nits): indices fit 16 bits."""

MEAN_QUANTUM = 2.0**-14
"""cd/m^2: every entry of the mean-luminance table is a whole multiple of it, so float64 sums of
up to MEAN_MAX_PIXELS entries are exact and a frame's mean is the same, bit for bit, whatever
order and however many pieces its pixels are added in (bands on several threads)."""

MEAN_MAX_PIXELS = int(2**53 * MEAN_QUANTUM / PQ_PEAK_NITS)
"""54,975,581 pixels (8K UHD is 33,177,600): past that a sum could outgrow float64's 53 bits."""


@functools.cache
def _nits_table() -> np.ndarray:
    nits = pq_decode(np.arange(MEAN_STEPS + 1) / MEAN_STEPS)
    table = np.rint(nits / MEAN_QUANTUM) * MEAN_QUANTUM
    table.flags.writeable = False  # shared by every thread that measures
    return table


def pq_mean_nits(signal: np.ndarray) -> float:
    """Mean absolute luminance, cd/m^2, of PQ signals in [0, 1] (out-of-range values clip).

    Each signal is rounded to one of 65,536 steps and looked up in a table
    decoded once in float64 (and rounded to MEAN_QUANTUM, 0.00006 nit): two
    cheap passes and a gather instead of two float32 powers per pixel, about
    2x faster for the MaxFALL average over millions of pixels. A pixel is
    within 0.07 nit of ``pq_decode`` up to 1000 nits; rounding errors are
    unbiased, so a frame's mean is within about 0.001 nit, far below the
    whole nit MaxFALL holds.
    """
    s = np.asarray(signal, dtype=np.float32)
    if s.size == 0:
        raise ValueError("no pixels to average")
    scaled = np.clip(s, np.float32(0.0), np.float32(1.0))  # a fresh buffer: the input is not modified
    scaled *= np.float32(MEAN_STEPS)
    # rint straight into 16-bit indices: no float copy of the rounded values.
    return mean_nits_of_steps(np.rint(scaled, out=np.empty(scaled.shape, np.uint16), casting="unsafe"))


def mean_nits_of_steps(steps: np.ndarray) -> float:
    """Mean cd/m^2 of PQ signals given as uint16 steps, ``rint(signal * MEAN_STEPS)`` (pq_mean_nits)."""
    if steps.size == 0:
        raise ValueError("no pixels to average")
    return sum_nits_of_steps(steps) / steps.size


def nits_table() -> np.ndarray:
    """cd/m^2 of each of the MEAN_STEPS + 1 signal steps (read-only), as ``sum_nits_of_steps`` adds them."""
    return _nits_table()


def sum_nits_of_steps(steps: np.ndarray, out: np.ndarray | None = None) -> float:
    """The exact sum of cd/m^2 of uint16 steps (as ``mean_nits_of_steps``), at most MEAN_MAX_PIXELS of them.

    Sums of a frame's parts add up to the whole frame's sum bit for bit.
    ``out``: a float64 buffer of the steps' shape for the looked-up values.
    """
    if steps.size > MEAN_MAX_PIXELS:
        raise ValueError(f"{steps.size} pixels: exact sums hold for at most {MEAN_MAX_PIXELS}")
    # mode="clip" (never needed: uint16 indices are all in the table) spares take a buffered copy of ``out``.
    return float(_nits_table().take(steps, out=out, mode="clip").sum())


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


def ycbcr420(rgb_prime: np.ndarray, *, kr: float, kb: float, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-linear R'G'B' in [0, 1] (H, W, 3) -> narrow-range Y', Cb, Cr planes, 4:2:0."""
    rgb = np.asarray(rgb_prime, dtype=np.float32)
    return planar_ycbcr420(rgb[..., 0], rgb[..., 1], rgb[..., 2], kr=kr, kb=kb, bits=bits)


def planar_ycbcr420(
    r: np.ndarray, g: np.ndarray, b: np.ndarray, *, kr: float, kb: float, bits: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``ycbcr420`` for separate R', G', B' planes (fastest when contiguous).

    Chroma is sited as H.264/HEVC assume when nothing else is signalled
    (type 0: co-sited with even luma columns, between rows): a [1 2 1]
    horizontal and [1 1] vertical filter, replicating the left edge.
    """
    h, w = r.shape
    if h % 2 or w % 2:
        raise ValueError(f"4:2:0 needs an even width and height, got {w}x{h}")
    dtype = np.uint8 if bits <= 8 else np.uint16
    planes = (np.empty((h, w), dtype), np.empty((h // 2, w // 2), dtype), np.empty((h // 2, w // 2), dtype))
    ycbcr420_into(r, g, b, planes, kr=kr, kb=kb, bits=bits)
    return planes


def ycbcr420_into(
    r: np.ndarray, g: np.ndarray, b: np.ndarray, out: tuple[np.ndarray, ...], *, kr: float, kb: float, bits: int
) -> None:
    """``planar_ycbcr420`` written into ``out``: Y' (H, W), Cb and Cr (H/2, W/2) integer planes.

    Rows are converted in pairs, so a band of rows (an even number, starting
    at an even row) gives the codes of those rows of the whole frame; the
    output planes may be strided views (an encoder frame's padded rows).
    """
    m = _matrix(kr, kb, bits)
    y = _weighted((r, g, b), m.luma, m.luma_offset)
    filtered = [_cosited(c) for c in (r, g, b)]
    cb = _weighted(filtered, m.cb, m.chroma_offset)
    cr = _weighted(filtered, m.cr, m.chroma_offset)
    for plane, dst in zip((y, cb, cr), out, strict=True):
        # Clip to the integer limits first, then round straight into the
        # integer plane: the same codes as rint, clip, astype, one pass fewer.
        np.clip(plane, 0, m.top, out=plane)
        np.rint(plane, out=dst, casting="unsafe")


def ycbcr_matrix(kr: float, kb: float, bits: int) -> _Matrix:
    """The weights, offsets and top code ``ycbcr420_into`` converts with."""
    return _matrix(kr, kb, bits)


class _Matrix(NamedTuple):
    luma: tuple[np.float32, np.float32, np.float32]
    cb: tuple[np.float32, np.float32, np.float32]
    cr: tuple[np.float32, np.float32, np.float32]
    luma_offset: np.float32
    chroma_offset: np.float32
    top: int


@functools.cache
def _matrix(kr: float, kb: float, bits: int) -> _Matrix:
    """Narrow-range code weights: Y' = 16 + 219 (kr R' + kg G' + kb B'), scaled to ``bits``;
    Cb = (B' - Y') / 2(1 - kb), Cr = (R' - Y') / 2(1 - kr), around 128, on 8x-filtered chroma."""
    scale = float(1 << (bits - 8))
    kg = 1.0 - kr - kb
    chroma_scale = 224.0 * scale / 8.0  # the 1/8 undoes the filter's gain (2 rows x [1 2 1])

    def f32(weights: np.ndarray) -> tuple[np.float32, np.float32, np.float32]:
        return (np.float32(weights[0]), np.float32(weights[1]), np.float32(weights[2]))

    return _Matrix(
        luma=f32(np.array([kr, kg, kb]) * 219.0 * scale),
        cb=f32(np.array([-kr, -kg, 1.0 - kb]) / (2.0 * (1.0 - kb)) * chroma_scale),
        cr=f32(np.array([1.0 - kr, -kg, -kb]) / (2.0 * (1.0 - kr)) * chroma_scale),
        luma_offset=np.float32(16.0 * scale),
        chroma_offset=np.float32(128.0 * scale),
        top=(1 << bits) - 1,
    )


def _cosited(channel: np.ndarray) -> np.ndarray:
    """8x the type-0 chroma sample: rows summed in pairs, columns [1 2 1] at even ones."""
    rows = np.asarray(channel, dtype=np.float32)[0::2] + channel[1::2]
    even, odd = rows[:, 0::2], rows[:, 1::2]
    out = even * np.float32(2.0)
    out += odd
    out[:, 1:] += odd[:, :-1]
    out[:, 0] += even[:, 0]  # replicate the left edge
    return out


def _weighted(
    channels: tuple[np.ndarray, ...] | list[np.ndarray], weights: tuple[np.float32, ...], offset: np.float32
) -> np.ndarray:
    # Per-channel multiply-adds: ~2x faster than an (N, 3) @ (3,) matmul,
    # whose inner dimension is too short for BLAS to help. One product
    # buffer is reused for the second and third terms.
    out = channels[0] * weights[0]
    term = np.multiply(channels[1], weights[1])
    out += term
    out += np.multiply(channels[2], weights[2], out=term)
    out += offset
    return out
