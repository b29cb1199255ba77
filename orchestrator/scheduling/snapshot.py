"""The live farm's board: built from a FarmState in one pass.

The live coordinator's state is a projection of the event log; the policy
reads a Board. This builds one from the other, so decide.dispatch stays a
pure function of state: O(chunks) per decision, like the fold that made
the state. The simulator keeps its board up to date instead (simulate.py);
tests check that both give the same decisions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace

from orchestrator.core.state import FarmState, SequenceState
from orchestrator.core.status import ChunkStatus, SequenceStatus
from orchestrator.scheduling.board import Board, Chunk, Lane
from orchestrator.scheduling.farm import FarmConfig, Need
from orchestrator.scheduling.runtime import Key, key_of
from pipelines.chunking import ChunkPlan
from pipelines.spec.sequence import Sequence


def rendering(state: FarmState) -> list[SequenceState]:
    """Sequences that may dispatch, oldest first (the lanes' serial order)."""
    seqs = [s for s in state.sequences.values() if s.status is SequenceStatus.RENDERING]
    return sorted(seqs, key=lambda s: (s.submitted_at, s.sequence_id))


def need_of(seq: SequenceState, engine: str) -> Need:
    width, height = seq.spec.resolution
    return Need(engine, width * height)


def chunk_key(seq: SequenceState, engine: str, shot: str) -> Key:
    spec = seq.spec
    return key_of(engine, spec.resolution, spec.samples_for(spec.shot(shot)))


def timeline_order(shot_index: int, first_frame: int) -> int:
    return (shot_index << 32) | first_frame


def lane_of(seq: SequenceState, serial: int, farm: FarmConfig, engine: str) -> Lane:
    lane = lane_for(seq.spec, seq.sequence_id, serial, farm, engine)
    lane.spent = seq.cost_usd
    lane.paused = seq.over_budget is not None
    return lane


def lane_for(spec: Sequence, sequence_id: str, serial: int, farm: FarmConfig, engine: str) -> Lane:
    width, height = spec.resolution
    need = Need(engine, width * height)
    return Lane(
        sequence_id=sequence_id,
        show=spec.show,
        priority=spec.priority,
        serial=serial,
        need=need,
        base=(engine, int(width), int(height)),
        capable=farm.capable(need),
        budget=spec.budget_usd,
    )


def chunks_for(spec: Sequence, sequence_id: str, plans: Iterable[ChunkPlan]) -> list[Chunk]:
    """Board chunks for plans of a sequence, in the timeline order the policy keeps."""
    position = {shot.name: i for i, shot in enumerate(spec.timeline)}
    samples = {shot.name: spec.samples_for(shot) for shot in spec.shots}
    return [
        Chunk(sequence_id, p.chunk_id, p.cost, samples[p.shot], timeline_order(position[p.shot], p.frames.first))
        for p in plans
    ]


def board_of(state: FarmState) -> Board:
    policy = state.policy
    farm, engine = policy.farm, policy.engine
    board = Board(farm, replace(state.runtime, prior=farm.prior_seconds_per_unit), engine)
    for node in state.nodes.values():
        board.add_node(node.node_id, node.gpu_class, node.slots)
    failures: dict[str, dict[str, tuple[int, float]]] = defaultdict(dict)
    for (sid, node_id), record in state.node_failures.items():
        failures[sid][node_id] = record
    running: dict[tuple[str, str, int], Chunk] = {}
    for serial, seq in enumerate(rendering(state)):
        lane = board.add_lane(lane_of(seq, serial, farm, engine))
        lane.failures = failures.get(seq.sequence_id, {})
        live = [c for c in seq.chunks.values() if c.status not in (ChunkStatus.RENDERED, ChunkStatus.FAILED)]
        for c, chunk in zip(live, chunks_for(seq.spec, seq.sequence_id, (c.plan for c in live))):
            chunk.attempt = c.attempt
            board.add_chunk(lane, chunk)
            if c.status is ChunkStatus.QUEUED:
                board.queue(seq.sequence_id, chunk)
            elif c.status is ChunkStatus.RETRY_WAIT:
                lane.waiting_retry[chunk.chunk_id] = chunk
            else:
                running[seq.sequence_id, chunk.chunk_id, c.attempt] = chunk
    for node in state.nodes.values():
        for key in node.queue:  # in the order the node was sent them
            chunk = running.pop(key, None)
            if chunk is not None:
                board.hold(key[0], chunk, node.node_id)
            else:
                board.hold_foreign(node.node_id, key)
    return board
