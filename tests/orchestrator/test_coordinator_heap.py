"""The coordinator's process hides what it holds for good from the cycle collector.

A full collection walks every object the collector tracks; in the coordinator's
process those are mostly Ray's and pydantic's modules and the queued chunks,
which live until they render. Walking them every few hundred events was a
tenth of the dispatch time with a thousand chunks queued.
"""

from __future__ import annotations

import asyncio
import gc

from orchestrator.config.settings import FarmSettings
from orchestrator.coordinator.actor import CoordinatorActor
from tests.builders import sequence, shot


def tracked(obj: object) -> bool:
    """Whether a collection would walk ``obj`` (frozen objects are in no generation)."""
    return any(o is obj for o in gc.get_objects())


def test_a_planned_sequence_is_not_walked_by_the_cycle_collector(tmp_path):
    coordinator = CoordinatorActor(str(tmp_path / "shotfarm.db"), str(tmp_path), FarmSettings())
    try:
        sid = asyncio.run(coordinator.submit(sequence(shot("sh010", 1001, 1096)).model_dump(mode="json")))
        chunks = list(coordinator.state.sequences[sid].chunks.values())
        assert len(chunks) > 1 and all(gc.is_tracked(c) for c in chunks)
        assert not any(tracked(c) for c in chunks[:3]) and not tracked(coordinator.state)
    finally:
        asyncio.run(coordinator.shutdown())
