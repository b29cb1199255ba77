"""Chunk size adapted toward a target duration, from the runtime model.

Without history a chunk is `chunk_frames` frames at the sequence's default
quality (pipelines.chunking). Once the model has measured the engine, a
shot's chunks are sized so that each is expected to take
`target_chunk_seconds` on the farm's typical node: the speed-weighted mean
of the classes that can run the shot, which is where most of its chunks
will land. OpenJD's targetRuntimeSeconds, decided at planning time so that
chunk ids stay stable for the log.
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.scheduling.farm import FarmConfig, Need
from orchestrator.scheduling.runtime import RuntimeModel, key_of
from pipelines.chunking import ChunkPlan, chunk_shot, plan_chunks
from pipelines.spec.sequence import Sequence


def typical_speed(farm: FarmConfig, capable: frozenset[str], nodes: Mapping[str, int]) -> float:
    """Mean speed of the nodes that can run the work, each node weighted by its speed (the work it takes)."""
    weights = {k: nodes.get(k, 0) for k in capable}
    if not any(weights.values()):
        weights = {k: 1 for k in capable}
    total = sum(n * farm.speed(k) for k, n in weights.items())
    return sum(n * farm.speed(k) ** 2 for k, n in weights.items()) / total if total else 1.0


def plan_sized(
    sequence: Sequence,
    model: RuntimeModel,
    farm: FarmConfig,
    engine: str,
    chunk_frames: int,
    nodes: Mapping[str, int],
    shots: set[str] | None = None,
) -> list[ChunkPlan]:
    """Chunks for the sequence's shots (or only `shots`) in timeline order.

    `nodes` is class -> node count of the pool (what "typical" is weighed by).
    Falls back to `chunk_frames` when there is no target or the engine was never measured.
    """
    target = farm.target_chunk_seconds
    if target is None or not any(model.knows(e) for e in sequence.engines(engine)):
        return [c for c in plan_chunks(sequence, chunk_frames) if shots is None or c.shot in shots]
    width, height = sequence.resolution
    fixed: dict[str, list[ChunkPlan]] = {}
    out: list[ChunkPlan] = []
    for shot in sequence.timeline:
        if shots is not None and shot.name not in shots:
            continue
        shot_engine = sequence.engine_for(shot, engine)
        if not model.knows(shot_engine):  # never measured: the fixed chunk size until it is
            if not fixed:
                for c in plan_chunks(sequence, chunk_frames):
                    fixed.setdefault(c.shot, []).append(c)
            out += fixed.get(shot.name, [])
            continue
        speed = typical_speed(farm, farm.capable(Need(shot_engine, width * height)), nodes)
        key = key_of(shot_engine, sequence.resolution, sequence.samples_for(shot))
        seconds_per_unit = model.reference(key) / speed
        out += chunk_shot(sequence, shot, target / seconds_per_unit)
    return out
