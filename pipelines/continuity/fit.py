"""Frame statistics for grade matching, and the CDL fit that matches one shot to another.

The four statistics are chosen so that each responds to one kind of grade and
is blind to the others, which lets the rules judge them separately and the fit
correct them together:

- key (exposure): log2 of the geometric mean luminance. A gain of 2**k moves it
  by exactly k.
- log spread (contrast): std of log2 luminance. A CDL power p scales it by p.
- average colour (white balance): the mean ACEScg colour of the frame without
  its highlights, so the light sources in shot do not outvote the light on the
  set.
- chroma (saturation): luminance-weighted relative chroma after dividing out
  the average colour (grey world), so a colour cast is not read as saturation.
  The CDL saturation (Rec.709 luma, as in pipelines.color.cdl) scales it by
  exactly its factor on a neutral frame.

Per-pixel work runs in torch (CPU or CUDA) on a strided sample of at most
SAMPLE_PIXELS pixels: the statistics of a 1080p frame and of its sample differ
by far less than any threshold, and a statistic costs milliseconds, not
tens of them.

This module must never read files or decide anything: it measures and fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from pipelines.color.cdl import CDL, LUMA_709
from pipelines.color.temperature import AP1_LUMINANCE

# 1080p has 2 M pixels; a regular 1-in-16 grid keeps 130 k, enough for
# statistics stable to ~0.005 stop, and 16x less work.
SAMPLE_PIXELS = 1 << 17
# Pixels darker than this fraction of the frame's mean luminance are left out
# of the log statistics: 12 stops down is below any camera's usable range, and
# path-tracer pixels that caught no light (exactly 0) have no logarithm. The
# floor is relative so that a gain moves every pixel and the floor together.
FLOOR_BELOW_MEAN = 2.0**-12
# Pixels brighter than 8x (3 stops over) the key are light sources and
# speculars; they say nothing about the light falling on the set.
HIGHLIGHT_OVER_KEY = 2.0**3
_EPS = 1e-12
# A fit stops when every statistic is within this (in stops, or log2 of a
# ratio) of its target: a twentieth of the smallest threshold any rule uses.
SETTLED = 0.002


@dataclass(frozen=True)
class FrameStats:
    key: float
    """log2 of the geometric mean luminance (AP1 weights)."""
    spread: float
    """Standard deviation of log2 luminance, in stops."""
    colour: tuple[float, float, float]
    """Average ACEScg colour without highlights."""
    chroma: float
    """Luminance-weighted relative chroma after grey-world normalisation."""
    pixels: int
    """How many pixels the log statistics used."""


def as_pixels(rgb: np.ndarray | Tensor, device: str | torch.device = "cpu") -> Tensor:
    """(H, W, 3) or (N, 3) pixels as a float32 (N, 3) tensor on `device`, an (H, W, 3) frame
    subsampled to at most SAMPLE_PIXELS first (so only the sample travels to a GPU)."""
    if rgb.ndim == 3:
        h, w = rgb.shape[:2]
        stride = max(1, math.ceil(math.sqrt(h * w / SAMPLE_PIXELS)))
        # A regular grid, not a random draw: the same frame always gives the
        # same numbers, and a grid covers the frame evenly.
        rgb = rgb[stride // 2 :: stride, stride // 2 :: stride]
    t = rgb if isinstance(rgb, Tensor) else torch.from_numpy(np.ascontiguousarray(rgb))
    return t.to(device=device, dtype=torch.float32).reshape(-1, 3)


def frame_stats(px: Tensor) -> FrameStats | None:
    """Statistics of (N, 3) scene-linear ACEScg pixels; None for a frame with no light in it."""
    ap1 = torch.tensor(AP1_LUMINANCE, dtype=px.dtype, device=px.device)
    y = px @ ap1
    mean_y = y.mean()
    lit = y > mean_y * FLOOR_BELOW_MEAN
    if not bool(lit.any()) or float(mean_y) <= 0:
        return None
    logs = torch.log2(y[lit])
    key = logs.mean()
    spread = logs.std(unbiased=False)
    body = lit & (y <= torch.exp2(key) * HIGHLIGHT_OVER_KEY)
    colour = px[body].mean(0)
    if float(colour.min()) <= 0:
        return None
    return FrameStats(
        key=float(key),
        spread=float(spread),
        colour=tuple(float(c) for c in colour),  # type: ignore[arg-type]
        chroma=float(_chroma(px[body], colour)),
        pixels=int(lit.sum()),
    )


def _chroma(px: Tensor, colour: Tensor) -> Tensor:
    balanced = px / colour
    w = torch.tensor(LUMA_709, dtype=px.dtype, device=px.device)
    luma = balanced @ w
    return (balanced - luma[:, None]).abs().sum(-1).sum() / luma.abs().sum().clamp_min(_EPS)


def apply_cdl(cdl: CDL | None, px: Tensor) -> Tensor:
    return px if cdl is None or cdl.is_identity else cdl.apply(px)


@dataclass(frozen=True)
class Targets:
    """Where a match grade should put each statistic of the right frame."""

    key: float
    spread: float
    colour: tuple[float, float, float]
    """Only its chromaticity counts; luminance is the key's business."""
    chroma: float


def reinhard_cdl(left: FrameStats, right: FrameStats) -> CDL:
    """Log-space Reinhard transfer on luminance as a CDL (offset 0).

    Matching mean and std of log2 luminance, a = sl/sr and b = ml - a*mr, is
    out = 2**b * in**a = (in * 2**(b/a)) ** a: slope 2**(b/a), power a.
    """
    a = left.spread / right.spread if right.spread > _EPS else 1.0
    b = left.key - a * right.key
    s = 2.0 ** min(b / a, 64.0)
    return _cdl([s, s, s], (0.0, 0.0, 0.0), a, 1.0)


def fit_grade(right: Tensor, targets: Targets, start: CDL | None = None, rounds: int = 16) -> CDL:
    """A CDL that puts the raw `right` pixels' statistics on `targets`.

    Starts from the shot's current grade; an aspect that should not change
    gets the current graded value as its target, and is then held there (a
    power pivots on 1.0, so a contrast fix alone would otherwise move the key
    and the saturation too). Each round corrects every aspect in turn,
    measured again on the graded result, until every statistic is within
    SETTLED of its target (two or three rounds for a typical mismatch; a big
    saturation change couples with the average colour and takes more).
    Offsets stay as they are: a match needs gains, not lifts.
    """
    cdl = start or CDL()
    now = frame_stats(apply_cdl(cdl, right))
    if now is None:
        return cdl
    colour = chromaticity(targets.colour)
    slope, power, sat = list(cdl.slope), cdl.power[0], cdl.saturation
    # First estimate: the closed-form Reinhard CDL on luminance, stacked on the
    # current grade ((x*s1)**p1 then (y*s2)**p2 is slope s1*s2**(1/p1), power p1*p2).
    seed = reinhard_cdl(replace(now, key=targets.key, spread=targets.spread), now)
    slope = [s * seed.slope[0] ** (1.0 / power) for s in slope]
    power *= seed.power[0]

    def graded() -> FrameStats | None:
        return frame_stats(_cdl(slope, cdl.offset, power, sat).apply(right))

    for _ in range(rounds):
        now = graded()
        if now is None or _settled(now, targets, colour):
            break
        if now.spread > _EPS:
            power *= targets.spread / now.spread
        # Saturation before balance: it moves the average colour, balance barely moves chroma.
        if (now := graded()) is not None and now.chroma > _EPS:
            sat *= targets.chroma / now.chroma
        if (now := graded()) is not None:
            # Per-channel gains that move the average colour's chromaticity,
            # keeping its luminance.
            current = chromaticity(now.colour)
            slope = [s * (t / c) ** (1.0 / power) for s, t, c in zip(slope, colour, current)]
        if (now := graded()) is not None:
            gain = 2.0 ** ((targets.key - now.key) / power)
            slope = [s * gain for s in slope]
    return _cdl(slope, cdl.offset, power, sat)


def _settled(now: FrameStats, targets: Targets, colour: tuple[float, float, float]) -> bool:
    return (
        abs(now.key - targets.key) < SETTLED
        and abs(math.log2(max(now.spread, _EPS) / max(targets.spread, _EPS))) < SETTLED
        and abs(math.log2(max(now.chroma, _EPS) / max(targets.chroma, _EPS))) < SETTLED
        and all(abs(math.log2(c / t)) < SETTLED for c, t in zip(chromaticity(now.colour), colour))
    )


def chromaticity(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    """The colour scaled to unit AP1 luminance: what is left of it once exposure is divided out."""
    y = sum(w * c for w, c in zip(AP1_LUMINANCE, rgb))
    return tuple(c / y for c in rgb)  # type: ignore[return-value]


def _cdl(slope: list[float], offset: tuple[float, float, float], power: float, sat: float) -> CDL:
    # Held inside the CDL's bounds: a frame with almost no light or colour can
    # ask for a gain no colourist would set, and that must not fail the check.
    return CDL(
        slope=tuple(_within(s, 0.0, 1000.0) for s in slope),  # type: ignore[arg-type]
        offset=offset,
        power=(_within(power, 1e-3, 100.0),) * 3,
        saturation=_within(sat, 0.0, 100.0),
    )


def _within(value: float, lo: float, hi: float) -> float:
    value = float(value)
    return min(max(value, lo), hi) if math.isfinite(value) else 1.0
