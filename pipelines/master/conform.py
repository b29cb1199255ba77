"""Conform: which shot frame fills each frame of the master.

Shots are laid out in timeline order with their handles trimmed. Master frame
numbers are the timeline's own, continuous from the first cut frame to the
last; a gap between shots is filled with black (and says so) rather than
closing up, so editorial timing is never silently changed.
"""

from __future__ import annotations

from pipelines.spec.scene import Frozen
from pipelines.spec.sequence import FrameRange, Sequence


class MasterFrame(Frozen):
    frame: int
    """Timeline frame number, which is also the master frame number."""
    shot: str | None
    """None for filler in an editorial gap."""


def master_range(sequence: Sequence) -> FrameRange:
    shots = sequence.timeline
    return FrameRange(first=shots[0].frames.first, last=max(s.frames.last for s in shots))


def conform(sequence: Sequence) -> list[MasterFrame]:
    owner: dict[int, str] = {}
    for shot in sequence.timeline:
        for f in shot.frames:
            owner[f] = shot.name
    return [MasterFrame(frame=f, shot=owner.get(f)) for f in master_range(sequence)]
