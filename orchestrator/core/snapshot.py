"""A farm's board built from a FarmState in one pass.

The farm's state is a projection of the event log; the policy reads a
Board. This builds one from the other: for decide.dispatch when it is given
no board (a unit test, one decision), for views, and for the live farm's
maintained board whenever an event reshapes the farm (core.live_board).
The live coordinator otherwise keeps its board up to date event by event;
tests check that both give the same decisions.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from orchestrator.core.state import ChunkState, FarmState, SequenceState
from orchestrator.core.status import ChunkStatus, SequenceStatus
from orchestrator.scheduling.board import _STAMPS, Board, Chunk, Lane
from orchestrator.scheduling.farm import FarmConfig, Need
from orchestrator.scheduling.ids import AttemptKey
from pipelines.chunking import ChunkPlan
from pipelines.spec.sequence import Sequence


def rendering(state: FarmState) -> list[SequenceState]:
    """Sequences that may dispatch, oldest first (the lanes' serial order)."""
    seqs = [s for s in state.sequences.values() if s.status is SequenceStatus.RENDERING]
    return sorted(seqs, key=lambda s: (s.submitted_at, s.sequence_id))


def timeline_order(shot_index: int, first_frame: int) -> int:
    return (shot_index << 32) | first_frame


def capable_of(farm: FarmConfig, spec: Sequence, default_engine: str) -> frozenset[str]:
    """Classes that can run every shot of the sequence, whichever engine each shot needs."""
    width, height = spec.resolution
    engines = spec.engines(default_engine)
    return frozenset.intersection(*(farm.capable(Need(e, width * height)) for e in engines))


def lane_for(spec: Sequence, sequence_id: str, serial: int, farm: FarmConfig, default_engine: str) -> Lane:
    width, height = spec.resolution
    engine = spec.engines(default_engine)[0]
    need = Need(engine, width * height)
    return Lane(
        sequence_id=sequence_id,
        show=spec.show,
        priority=spec.priority,
        serial=serial,
        need=need,
        base=(engine, int(width), int(height)),
        capable=capable_of(farm, spec, default_engine),
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


class _Lanes:
    """One sequence's chunks as board Chunks, kept in step with its SequenceState.

    Boards built from states share these queues: a plan assigns and undoes,
    so a board leaves them as it found them. Between two states only the
    chunks whose ChunkState object changed are refolded, found by identity,
    so a decision costs O(changed chunks) plus an identity scan instead of
    rebuilding every queue.
    """

    def __init__(self, seq: SequenceState):
        self.seq = seq
        spec = seq.spec
        self.position = {shot.name: i for i, shot in enumerate(spec.timeline)}
        self.samples = {shot.name: spec.samples_for(shot) for shot in spec.shots}
        self.queued: dict[str, Chunk] = {}
        self.timeline: list[Any] = []
        self.longest: list[Any] = []
        self.retry: dict[str, Chunk] = {}
        self.running: dict[tuple[str, int], Chunk] = {}
        self.units_left: dict[int, float] = {}
        self.queued_units: dict[int, float] = {}
        self.spent = seq.retired_cost_usd
        for c in seq.chunks.values():
            self._add(c)
        self.timeline.sort()  # a sorted list is a heap
        self.longest.sort()

    def _add(self, c: ChunkState, push: bool = False) -> None:
        self.spent += c.cost_usd
        if c.status is ChunkStatus.RENDERED or c.status is ChunkStatus.FAILED:
            return
        plan = c.plan
        samples = self.samples[plan.shot]
        chunk = Chunk(
            self.seq.sequence_id, plan.chunk_id, plan.cost, samples,
            timeline_order(self.position[plan.shot], plan.frames.first), attempt=c.attempt,
        )  # fmt: skip
        self.units_left[samples] = self.units_left.get(samples, 0.0) + plan.cost
        if c.status is ChunkStatus.QUEUED:
            chunk.stamp = next(_STAMPS)
            self.queued[plan.chunk_id] = chunk
            self.queued_units[samples] = self.queued_units.get(samples, 0.0) + plan.cost
            timeline, longest = (chunk.order, chunk.stamp, plan.chunk_id), (-plan.cost, chunk.order, chunk.stamp, plan.chunk_id)
            if push:
                heapq.heappush(self.timeline, timeline)
                heapq.heappush(self.longest, longest)
            else:
                self.timeline.append(timeline)
                self.longest.append(longest)
        elif c.status is ChunkStatus.RETRY_WAIT:
            self.retry[plan.chunk_id] = chunk
        else:
            self.running[plan.chunk_id, c.attempt] = chunk

    def _remove(self, c: ChunkState) -> None:
        self.spent -= c.cost_usd
        if c.status is ChunkStatus.RENDERED or c.status is ChunkStatus.FAILED:
            return
        plan = c.plan
        samples = self.samples[plan.shot]
        self.units_left[samples] -= plan.cost
        if c.status is ChunkStatus.QUEUED:
            del self.queued[plan.chunk_id]  # its heap entries go stale
            self.queued_units[samples] -= plan.cost
        elif c.status is ChunkStatus.RETRY_WAIT:
            del self.retry[plan.chunk_id]
        else:
            del self.running[plan.chunk_id, c.attempt]

    def follow(self, seq: SequenceState) -> bool:
        """Refold to a later (or other) version of the sequence; False if only a rebuild will do."""
        old = self.seq
        if seq is old:
            return True
        if seq.spec is not old.spec or seq.retired_cost_usd != old.retired_cost_usd:
            return False
        before, after = old.chunks, seq.chunks
        changed, gone = _diff(before, after)
        for cid in gone:
            self._remove(before[cid])
        for cid in changed:
            if cid in before:
                self._remove(before[cid])
            self._add(after[cid], push=True)
        self.seq = seq
        return True


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(changed or new chunk ids, removed ids) between two chunk maps, by identity.

    evolve replaces a chunk in place, so the maps usually hold the same keys in
    the same order and a positional scan finds the few objects that differ.
    """
    if len(before) == len(after):
        pairs = zip(after.keys(), after.values(), before.keys(), before.values())
        changed = [(a, b) for a, c, b, o in pairs if c is not o]
        if all(a == b for a, b in changed):
            return [a for a, _ in changed], []
    return [cid for cid, c in after.items() if before.get(cid) is not c], [cid for cid in before if cid not in after]


_CACHE: dict[tuple[str, int], _Lanes] = {}
"""(sequence id, id of its spec) -> lanes. Keyed by spec too, so two projections of one log
in one process (the coordinator's and a view's) each keep their own line of states."""


def _lanes(seq: SequenceState) -> _Lanes:
    key = (seq.sequence_id, id(seq.spec))
    hit = _CACHE.get(key)
    if hit is None or not hit.follow(seq):
        if len(_CACHE) > 256:
            _CACHE.clear()  # finished sequences and states nobody decides on any more
        hit = _CACHE[key] = _Lanes(seq)
    return hit


def board_of(state: FarmState, own: bool = False) -> Board:
    """The board for `state`. With `own`, its queues are its own (not shared with other
    boards built from the same states): what a board that will be moved event by event needs."""
    policy = state.policy
    farm, engine = policy.farm, policy.engine
    board = Board(farm, replace(state.runtime, prior=farm.prior_seconds_per_unit), engine)
    for node in state.nodes.values():
        board.add_node(node.node_id, node.gpu_class, node.slots, node.draining)
    failures: dict[str, dict[str, tuple[int, float]]] = defaultdict(dict)
    for (sid, node_id), record in state.node_failures.items():
        failures[sid][node_id] = record
    running: dict[AttemptKey, Chunk] = {}
    for serial, seq in enumerate(rendering(state)):
        cached = _Lanes(seq) if own else _lanes(seq)
        lane = lane_for(seq.spec, seq.sequence_id, serial, farm, engine)
        lane.spent, lane.paused = cached.spent, seq.over_budget is not None
        lane.failures = failures.get(seq.sequence_id, {})
        lane.queued, lane.timeline, lane.longest = cached.queued, cached.timeline, cached.longest
        lane.waiting_retry, lane.units_left = cached.retry, dict(cached.units_left)
        board.add_lane(lane)
        board.count_queue(lane, cached.queued_units)
        for (cid, attempt), chunk in cached.running.items():
            running[AttemptKey(seq.sequence_id, cid, attempt)] = chunk
    for node in state.nodes.values():
        for key in node.queue:  # in the order the node was sent them
            held = running.pop(key, None)
            if held is not None:
                board.hold(key.sequence_id, held, node.node_id)
            else:
                board.hold_unscheduled(node.node_id, key)
    return board
