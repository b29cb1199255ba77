"""Nodes each class is wanted for: what cluster mode scales GPU worker groups to.

Pure: a FarmState in, chunks per node class out. A chunk at a node counts
for that node's class. A chunk still to dispatch (queued, or waiting out a
retry) counts once, for the fastest class that can run it: where the policy
sends it first. Sequences paused by their budget, stitching or finished want
no render node.

`demand_on` answers the same from a scheduling board (the live farm's
maintained one) by its counters: held slots per show and class, and each
lane's queue and backoff sizes, never a scan of chunks.
"""

from __future__ import annotations

from collections import Counter

from orchestrator.core.snapshot import capable_of
from orchestrator.core.state import FarmState
from orchestrator.core.status import ChunkStatus, SequenceStatus
from orchestrator.scheduling.board import Board

RENDERING = (SequenceStatus.SUBMITTED, SequenceStatus.RENDERING)
TO_DISPATCH = (ChunkStatus.QUEUED, ChunkStatus.RETRY_WAIT)


def demand_by_class(state: FarmState) -> dict[str, int]:
    farm, engine = state.policy.farm, state.policy.engine
    wanted: Counter[str] = Counter()
    for seq in state.sequences.values():
        if seq.status not in RENDERING:
            continue
        width, height = seq.spec.resolution
        capable = capable_of(farm, seq.spec, engine)
        preferred = max(capable, key=lambda name: (farm.speed(name), name)) if capable else None
        for chunk in seq.chunks.values():
            node = state.nodes.get(chunk.node_id or "")
            if chunk.status is ChunkStatus.RUNNING and node is not None:
                wanted[node.gpu_class] += 1
            elif chunk.status in TO_DISPATCH and seq.over_budget is None and preferred is not None:
                wanted[preferred] += 1
    return dict(wanted)


def demand_on(board: Board) -> dict[str, int]:
    """demand_by_class of the state the board was built from or kept up to date with."""
    farm = board.farm
    wanted: Counter[str] = Counter()
    for (_, gpu_class), held in board.usage.items():
        if held:
            wanted[gpu_class] += held
    for lane in board.lanes.values():
        waiting = len(lane.queued) + len(lane.waiting_retry)
        if waiting and not lane.paused and lane.capable:
            wanted[max(lane.capable, key=lambda name: (farm.speed(name), name))] += waiting
    return dict(wanted)
