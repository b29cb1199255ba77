"""Conform: which shot frames make up each frame of the master.

Shots are laid out in timeline order with their handles trimmed. Master frame
numbers are the timeline's own, continuous from the first cut frame to the
last; a gap between shots is black (no layers) rather than closed up, so
editorial timing is never silently changed. A dissolve of D frames is centred
on the cut and reaches into both shots' handles; its frames are a weighted
mix of the two shots, blended later in scene-linear light.
"""

from __future__ import annotations

from pipelines.spec.scene import Frozen
from pipelines.spec.sequence import FrameRange, Sequence


class Layer(Frozen):
    shot: str
    frame: int
    """The shot's own (timeline) frame number that fills this master frame."""
    weight: float


class MasterFrame(Frozen):
    frame: int
    """Timeline frame number, which is also the master frame number."""
    layers: tuple[Layer, ...]
    """Empty for black filler in an editorial gap; two during a dissolve."""

    @property
    def shot(self) -> str | None:
        """The shot that dominates this frame (None in a gap)."""
        return max(self.layers, key=lambda layer: layer.weight).shot if self.layers else None


def master_range(sequence: Sequence) -> FrameRange:
    shots = sequence.timeline
    return FrameRange(first=shots[0].frames.first, last=max(s.frames.last for s in shots))


def dissolve_range(cut: int, frames: int) -> FrameRange:
    """The master frames of a `frames`-long dissolve centred on the cut at `cut`."""
    start = cut - frames // 2
    return FrameRange(first=start, last=start + frames - 1)


def conform(sequence: Sequence) -> list[MasterFrame]:
    layers: dict[int, list[Layer]] = {}
    for shot in sequence.timeline:
        for f in shot.frames:
            layers[f] = [Layer(shot=shot.name, frame=f, weight=1.0)]
    ordered = sequence.timeline
    for left, right in zip(ordered, ordered[1:]):
        if not right.dissolve:
            continue
        span = dissolve_range(right.frames.first, right.dissolve)
        for i, f in enumerate(span):
            w = (i + 1) / (right.dissolve + 1)  # never a pure frame of either shot
            layers[f] = [Layer(shot=left.name, frame=f, weight=1.0 - w), Layer(shot=right.name, frame=f, weight=w)]
    return [MasterFrame(frame=f, layers=tuple(layers.get(f, ()))) for f in master_range(sequence)]
