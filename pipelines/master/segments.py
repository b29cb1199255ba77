"""Master segments: the pieces of the master that can be built independently.

One segment per shot (its cut range on the timeline) and one per editorial
gap. A segment depends on the shots whose frames it uses: its own, plus the
neighbour across a dissolve that reaches into it. A segment is built as soon
as the shots it depends on are final, and rebuilt alone when one of them
changes (a re-render, a new grade), so a fix to one shot never re-stitches
the whole sequence.
"""

from __future__ import annotations

import hashlib
import json

from pipelines.master.conform import MasterFrame, conform
from pipelines.spec.scene import Frozen
from pipelines.spec.sequence import FrameRange, Sequence


class Segment(Frozen):
    name: str
    frames: FrameRange
    shots: tuple[str, ...]
    """Shots whose frames this segment uses; empty for a gap."""


def segments(sequence: Sequence) -> list[Segment]:
    by_frame = {m.frame: m for m in conform(sequence)}
    out: list[Segment] = []
    timeline = sequence.timeline
    for i, shot in enumerate(timeline):
        used = {layer.shot for f in shot.frames for layer in by_frame[f].layers}
        out.append(Segment(name=shot.name, frames=shot.frames, shots=tuple(sorted(used))))
        nxt = timeline[i + 1] if i + 1 < len(timeline) else None
        if nxt and nxt.frames.first > shot.frames.last + 1:
            gap = FrameRange(first=shot.frames.last + 1, last=nxt.frames.first - 1)
            out.append(Segment(name=f"gap.{gap.first}-{gap.last}", frames=gap, shots=()))
    return out


def segment_frames(sequence: Sequence, segment: Segment) -> list[MasterFrame]:
    return [m for m in conform(sequence) if segment.frames.first <= m.frame <= segment.frames.last]


def fingerprint(segment: Segment, versions: dict[str, int], grades: dict[str, str]) -> str:
    """Changes exactly when something that goes into the segment's pixels changes."""
    inputs = {s: (versions[s], grades.get(s, "none")) for s in segment.shots}
    text = json.dumps([segment.name, segment.frames.first, segment.frames.last, inputs], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
