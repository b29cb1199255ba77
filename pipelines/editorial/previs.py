"""Cut detection in a previs or reference movie: hard cuts and dissolves from frame differences.

Works on small frames (a few thousand pixels each; see `movie.read_movie`),
with torch, from two differences between consecutive frames: the mean
absolute pixel difference (sensitive to any change, motion included) and the
distance between colour histograms (blind to where things are, so a pan or
fast action barely moves it while a change of shot does):

1. Each difference is divided by its running median over about two seconds,
   the shot's own level of change.
2. A frame where either difference stands far above that level and above an
   absolute floor, alone, is a hard cut.
3. A run of several raised differences is a dissolve candidate, from the
   last clean frame before it (s) to the first clean frame after (e). It is
   a dissolve when the colour histograms of the two ends differ like two
   shots do, and every frame between is close to the straight mix of the two
   ends, (1 - a) F[s] + a F[e] with a rising linearly: that is what a
   cross-fade is, and what a cut (half the frames far from the mix) is not.
4. A long dissolve changes each frame so little that motion hides it; the
   histogram distance between frames LAG apart does not hide it (a shot's
   colours barely move over LAG frames, a dissolve's move LAG steps). Raised
   runs of that distance not already explained give candidates centred on
   the run, checked as in 3.

A dissolve of D mixed frames is reported as a cut centred on it (frame
s + 1 + D // 2), which is how a Shot's `dissolve` is defined. Dissolves
between two shots of nearly the same colours are not told from motion.

Pure: tensors in, models out. Must never decode, read or write files.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from pipelines.editorial.cut import ClipEvent, EditorialCut, EditorialError
from pipelines.spec import limits
from pipelines.spec.scene import Frozen
from pipelines.spec.sequence import FrameRange

HIST_BINS = 16
LAG = 8


class DetectionSettings(Frozen):
    cut_floor: float = Field(0.06, gt=0, description="Mean absolute pixel difference (0-1) a cut must exceed.")
    hist_floor: float = Field(0.12, gt=0, description="Histogram distance (0-1) a cut or a dissolve must exceed.")
    cut_ratio: float = Field(5.0, gt=1, description="How far above the shot's own level of change a cut stands.")
    raised_ratio: float = Field(1.5, gt=1, description="How far above that level a dissolve's steps stand.")
    raised_floor: float = Field(0.004, gt=0, description="A pixel difference below this never joins a transition.")
    fit: float = Field(0.45, gt=0, lt=1, description="Largest miss of a frame from the straight mix, relative to the change.")
    window: int = Field(24, ge=2, description="Half width in frames of the running median.")
    max_dissolve: int = Field(96, ge=1, le=96, description="Longest dissolve looked for, in mixed frames.")


class Transition(Frozen):
    kind: Literal["cut", "dissolve"]
    frame: int = Field(description="First frame of the incoming shot (a dissolve's centre).")
    length: int = Field(0, ge=0, description="Mixed frames of a dissolve; 0 for a cut.")
    change: float = Field(description="Histogram distance across the transition (0-1).")
    miss: float = Field(0.0, description="A dissolve's largest miss from the straight mix, relative to the change.")


class Features:
    """Per-frame pixels (N, P) and colour histograms (N, 3 * HIST_BINS), both 0-1."""

    def __init__(self, frames: torch.Tensor):
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected (N, H, W, 3) frames, got shape {tuple(frames.shape)}")
        x = frames.float() / 255.0 if frames.dtype == torch.uint8 else frames.float().clamp(0, 1)
        n = x.shape[0]
        self.pixels = x.reshape(n, -1)
        bins = (x * HIST_BINS).long().clamp(max=HIST_BINS - 1).reshape(n, -1, 3)
        hists = [F.one_hot(bins[..., c], HIST_BINS).float().mean(dim=1) for c in range(3)]
        self.hist = torch.cat(hists, dim=1) / 3.0

    def __len__(self) -> int:
        return self.pixels.shape[0]

    def pixel_change(self, a: int, b: int) -> float:
        return float((self.pixels[b] - self.pixels[a]).abs().mean())

    def hist_change(self, a: int, b: int) -> float:
        return float(0.5 * (self.hist[b] - self.hist[a]).abs().sum())


def _consecutive(x: torch.Tensor, l1_half: bool = False, lag: int = 1) -> torch.Tensor:
    """d[t] between frames t-lag and t, 0 for the first `lag` frames."""
    d = torch.zeros(x.shape[0], dtype=x.dtype)
    if x.shape[0] > lag:
        step = (x[lag:] - x[:-lag]).abs()
        d[lag:] = 0.5 * step.sum(dim=1) if l1_half else step.mean(dim=1)
    return d


def running_median(d: torch.Tensor, half: int) -> torch.Tensor:
    half = max(1, min(half, (d.numel() - 1) // 2)) if d.numel() > 2 else 0
    if half == 0:
        return d.clone()
    padded = F.pad(d[None, None], (half, half), mode="replicate")[0, 0]
    return padded.unfold(0, 2 * half + 1, 1).median(dim=1).values


def detect(frames: torch.Tensor, settings: DetectionSettings = DetectionSettings()) -> list[Transition]:
    """Cuts and dissolves in a movie's frames, in order."""
    feats = Features(frames)
    if len(feats) < 2:
        return []
    dp, dh = _consecutive(feats.pixels), _consecutive(feats.hist, l1_half=True)
    # The level is floored so a still shot (median 0) does not make noise look like a cut.
    rp = dp / running_median(dp, settings.window).clamp(min=settings.raised_floor)
    rh = dh / running_median(dh, settings.window).clamp(min=settings.raised_floor)
    raised = ((rp > settings.raised_ratio) | (rh > settings.raised_ratio)) & (dp > settings.raised_floor)
    spike = ((rp > settings.cut_ratio) & (dp > settings.cut_floor)) | (
        (rh > settings.cut_ratio) & (dh > settings.hist_floor)
    )
    raised[0] = spike[0] = False
    out: list[Transition] = []
    for a, b in _runs(raised):
        found = _dissolve(feats, a, b, settings) if b > a else None
        if found is not None:
            out.append(found)
            continue
        out += [Transition(kind="cut", frame=t, change=float(dh[t])) for t in range(a, b + 1) if bool(spike[t])]
    return sorted(out + _long_dissolves(feats, out, settings), key=lambda t: t.frame)


def _long_dissolves(feats: Features, found: list[Transition], settings: DetectionSettings) -> list[Transition]:
    lagged = _consecutive(feats.hist, l1_half=True, lag=LAG)
    # A dissolve may be longer than the first pass's window: the level here looks past it.
    level = running_median(lagged, settings.max_dissolve).clamp(min=settings.raised_floor)
    raised = (lagged > settings.raised_ratio * level) & (lagged > settings.hist_floor / 2)
    raised[:LAG] = False
    out = []
    for a, b in _runs(raised):
        # Frames t-LAG and t straddle the change for t in (s, e + LAG): the run is centred on it.
        if any(a - LAG <= t.frame <= b for t in found):
            continue
        length = b - a - LAG + 2
        if length <= LAG:
            continue  # short ones are the first pass's: this is no dissolve it could miss
        s = (a + b - LAG + 1) // 2 - length // 2 - 1
        e = s + length + 1
        if s < 0 or e >= len(feats) or length > settings.max_dissolve:
            continue
        change = feats.hist_change(s, e)
        miss = _miss(feats.pixels, s, e) / max(feats.pixel_change(s, e), 1e-6)
        if change >= settings.hist_floor and miss <= settings.fit:
            out.append(Transition(kind="dissolve", frame=s + 1 + length // 2, length=length, change=change, miss=miss))
    return out


def _runs(mask: torch.Tensor, bridge: int = 1) -> list[tuple[int, int]]:
    """Runs of True, joining runs split by up to `bridge` False values (a dissolve step lost in noise)."""
    runs: list[tuple[int, int]] = []
    for t, on in enumerate(mask.tolist()):
        if not on:
            continue
        if runs and t - runs[-1][1] <= bridge + 1:
            runs[-1] = (runs[-1][0], t)
        else:
            runs.append((t, t))
    return runs


def _dissolve(feats: Features, a: int, b: int, settings: DetectionSettings) -> Transition | None:
    """The best straight-mix fit for a raised run [a, b], if it is a dissolve."""
    best: tuple[float, int, int, float] | None = None
    for s in (a - 1, a - 2):
        for e in (b, b + 1):
            if s < 0 or e >= len(feats) or not 1 <= e - s - 1 <= settings.max_dissolve:
                continue
            change = feats.hist_change(s, e)
            if change < settings.hist_floor:
                continue
            miss = _miss(feats.pixels, s, e) / max(feats.pixel_change(s, e), 1e-6)
            if best is None or miss < best[0]:
                best = (miss, s, e, change)
    if best is None or best[0] > settings.fit:
        return None
    miss, s, e, change = best
    length = e - s - 1
    return Transition(kind="dissolve", frame=s + 1 + length // 2, length=length, change=change, miss=miss)


def _miss(pixels: torch.Tensor, s: int, e: int) -> float:
    """Largest mean distance of a frame strictly between s and e from the straight mix of frames s and e."""
    alpha = torch.arange(1, e - s, dtype=pixels.dtype)[:, None] / (e - s)
    mix = (1 - alpha) * pixels[s] + alpha * pixels[e]
    return float((pixels[s + 1 : e] - mix).abs().mean(dim=1).max())


def previs_cut(transitions: list[Transition], frames: int, fps: Fraction, source: str) -> EditorialCut:
    """The shots between the transitions, as a cut a scene mapping can turn into a sequence.

    Clips are named sh010, sh020, ... in order; record frame 0 is the movie's first frame.
    """
    if frames < 1:
        raise ValueError("a movie with no frames has no shots")
    bounds: list[Transition] = []
    for t in sorted(transitions, key=lambda t: t.frame):
        if (bounds[-1].frame if bounds else 0) < t.frame < frames:  # every shot keeps at least one frame
            bounds.append(t)
    starts = [0] + [t.frame for t in bounds]
    ends = [t.frame - 1 for t in bounds] + [frames - 1]
    dissolves = [0] + [t.length for t in bounds]
    if len(starts) > limits.MAX_SHOTS:  # a flickering movie is not a cut
        raise EditorialError(source, [("", f"{len(starts):,} shots found; a cut holds at most {limits.MAX_SHOTS:,} (MAX_SHOTS)")])
    clips = [
        ClipEvent(index=i, name=f"sh{(i + 1) * 10:03d}", record=FrameRange(first=a, last=b), dissolve=dissolves[i])
        for i, (a, b) in enumerate(zip(starts, ends))
    ]
    return EditorialCut(source=source, name=source, fps=fps, clips=tuple(clips))
