"""Splitting shots into frame chunks of similar expected render time.

A chunk is the unit a render node takes. Too small and the farm spends its
time on dispatch and engine warm-up; too large and one slow chunk holds the
sequence's tail. Chunks are sized by estimated cost, not frame count, so a
shot rendered at twice the samples gets chunks half as long.
"""

from __future__ import annotations

import math

from pydantic import Field

from pipelines.spec.generated import MAX_TAKES
from pipelines.spec.scene import Frozen
from pipelines.spec.sequence import FrameRange, Sequence, Shot


class ChunkPlan(Frozen):
    chunk_id: str
    shot: str
    frames: FrameRange
    cost: float = Field(ge=0, description="Estimated cost in reference units (pixel-samples x bounces).")
    take: int = Field(0, ge=0, le=MAX_TAKES, description="Which take of a shot generated as several (1..N); 0 for a shot that has one.")


def frame_cost(sequence: Sequence, shot: Shot) -> float:
    """Relative cost of one frame: the path tracer's work grows with these."""
    width, height = sequence.resolution
    return float(width * height * sequence.samples_for(shot) * sequence.bounces)


def chunk_shot(sequence: Sequence, shot: Shot, target_cost: float) -> list[ChunkPlan]:
    """Split a shot's render range (cut plus handles) into near-equal chunks."""
    per_frame = frame_cost(sequence, shot)
    frames = shot.render_range
    per_chunk = max(1, round(target_cost / per_frame))
    if shot.engine is not None and shot.engine.makes_clips:
        takes = sequence.takes(shot)
        if takes > 1:  # each take is a whole clip of its own, rendered as its own chunk
            return [
                ChunkPlan(chunk_id=take_chunk_id(shot.name, k, frames), shot=shot.name, frames=frames, cost=per_frame * len(frames), take=k)
                for k in range(1, takes + 1)
            ]
        per_chunk = len(frames)  # a generated clip is one piece of work: split, its parts would not join
    count = math.ceil(len(frames) / per_chunk)
    # Spread the frames evenly rather than leaving a runt chunk at the end.
    base, extra = divmod(len(frames), count)
    chunks, first = [], frames.first
    for i in range(count):
        size = base + (1 if i < extra else 0)
        rng = FrameRange(first=first, last=first + size - 1)
        chunks.append(
            ChunkPlan(chunk_id=f"{shot.name}.{rng.first}-{rng.last}", shot=shot.name, frames=rng, cost=per_frame * size)
        )
        first += size
    return chunks


def take_chunk_id(shot: str, take: int, frames: FrameRange) -> str:
    """The chunk that generates take `take` of a shot (its whole render range)."""
    return f"{shot}.t{take}.{frames.first}-{frames.last}"


def plan_chunks(sequence: Sequence, chunk_frames: int = 8) -> list[ChunkPlan]:
    """Chunks for every shot in timeline order.

    `chunk_frames` is the chunk length for a frame at the sequence's default
    quality; shots that cost more or less per frame get proportionally
    shorter or longer chunks.
    """
    width, height = sequence.resolution
    target = float(width * height * sequence.samples * sequence.bounces) * chunk_frames
    return [c for shot in sequence.timeline for c in chunk_shot(sequence, shot, target)]
