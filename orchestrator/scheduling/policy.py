"""The policy: given the board and `now`, which chunk goes to which free slot.

One function, `plan`, used by the live farm (through decide.dispatch) and by
the simulator. For each node class with free slots, fastest class first, it
gives the class's emptiest node the best chunk, where best is:

1. fair share (fairshare.standing): below-guarantee shows first, shows at
   their burst ceiling never; then priority; then the show furthest below
   its share; then the older sequence;
2. within the sequence, its next chunk in timeline order, unless its
   longest queued chunk is expected to take `critical_fraction` of the
   farm's drain horizon: that one goes first, since started later it would
   finish after everything else (longest-expected-first where it changes
   the makespan, timeline order everywhere else);
3. a node of a slower class takes a chunk only if it would not finish it
   later than the farm drains or than the fastest capable class would.

Sequences whose projected cost passes their budget are paused (Overrun);
chunks waiting at a node behind another are taken back (Preemption) when
strictly higher-priority work would get the slot. The board comes back
unchanged: every trial assignment is undone before returning. No clock, no
I/O, no Ray.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.scheduling.blocklist import blocked
from orchestrator.scheduling.board import Board, Chunk, Lane
from orchestrator.scheduling.budget import projected_usd
from orchestrator.scheduling.fairshare import standing
from orchestrator.scheduling.ids import AttemptKey
from orchestrator.scheduling.runtime import Key

MAX_NODE_SKIPS = 8
"""Nodes of one class tried per decision when the best chunks are blocked on them."""
MAX_PREEMPTIONS = 16
LONGER = 1.5
"""The longest chunk jumps the timeline only if it is this much longer than the next in line:
chunks sized alike keep timeline order."""
GROUP_CRITICAL = 0.8
SLOW_FIT = 0.5
"""A slower class takes a chunk only if it would finish within this fraction of the drain horizon
(the horizon is an estimate: a chunk that ends just inside it often ends just outside)."""
"""A group of classes whose own work would take this fraction of the farm's drain time goes first on them."""


@dataclass(frozen=True)
class Assignment:
    sequence_id: str
    chunk_id: str
    node_id: str
    attempt: int


@dataclass(frozen=True)
class Preemption:
    sequence_id: str
    chunk_id: str
    node_id: str
    attempt: int
    for_sequence: str
    """The higher-priority sequence the slot is taken back for."""


@dataclass(frozen=True)
class Overrun:
    sequence_id: str
    projected_usd: float
    budget_usd: float


@dataclass(frozen=True)
class DispatchPlan:
    """What one scheduling pass decides: chunks to send, attempts to take back, budgets overrun.

    (core.commands.Plan is another thing: splitting a submitted sequence into chunks.)
    """

    assignments: tuple[Assignment, ...] = ()
    preemptions: tuple[Preemption, ...] = ()
    overruns: tuple[Overrun, ...] = ()


def horizon(board: Board, ref: Callable[[Key], float] | None = None) -> float:
    """Seconds until the farm drains at full speed: queued work plus half the running, over capacity."""
    if board.capacity <= 0:
        return float("inf")
    ref = ref or board.model.reference
    work = sum(u * ref(k) for k, u in board.queued_units.items() if u > 0)
    work += 0.5 * sum(u * ref(k) for k, u in board.running_units.items() if u > 0)
    return work / board.capacity


class _Context:
    """What one decision computes at most once, and only if it needs it: the horizon, group drains."""

    def __init__(self, board: Board, now: float):
        self.board, self.now = board, now
        self.farm = board.farm
        self.fraction = self.farm.critical_fraction
        self._horizon: float | None = None
        self._refs: dict[Key, float] = {}
        self._groups: dict[frozenset[str], tuple[bool, float | None]] = {}
        self._blocks: dict[str, frozenset[str]] = {}

    def ref(self, key: Key) -> float:
        hit = self._refs.get(key)
        if hit is None:
            hit = self._refs[key] = self.board.model.reference(key)
        return hit

    @property
    def horizon(self) -> float:
        if self._horizon is None:
            self._horizon = horizon(self.board, self.ref)
        return self._horizon

    def critical(self, lane: Lane) -> bool:
        """Whether the lane's group of capable classes is critical.

        A group is critical when the work only it can run would take
        GROUP_CRITICAL of the farm's drain time on its own nodes: its lanes
        then go ahead of fair share's tier on those classes, or the farm
        would finish everything else and wait for them.
        """
        return self._group(lane)[0]

    def lane_horizon(self, lane: Lane) -> float:
        """When the lane's chunks must be done by: the farm's drain, or its group's if later."""
        drain = self._group(lane)[1]
        return self.horizon if drain is None else max(self.horizon, drain)

    def _group(self, lane: Lane) -> tuple[bool, float | None]:
        hit = self._groups.get(lane.capable)
        if hit is None:
            everywhere = self.board.present()
            present = lane.capable & everywhere
            if not present or present == everywhere:
                hit = (False, None)  # it can run anywhere: the farm's horizon is its own
            else:
                work = self._work(self.board.group_units, present, everywhere)
                work += 0.5 * self._work(self.board.group_running, present, everywhere)
                cap = sum(self.board.count[k] * self.farm.speed(k) for k in present)
                drain = work / cap if cap > 0 else float("inf")
                hit = (drain >= GROUP_CRITICAL * self.horizon, drain)
            self._groups[lane.capable] = hit
        return hit

    def _work(
        self, by_group: dict[frozenset[str], dict[Any, float]], present: frozenset[str], everywhere: frozenset[str]
    ) -> float:
        """Reference seconds of the work that only classes in `present` can run."""
        return float(sum(
            u * self.ref(k)
            for g, units in by_group.items()
            if g & everywhere <= present
            for k, u in units.items()
            if u > 0
        ))

    def blocked(self, lane: Lane, node_id: str) -> bool:
        hit = self._blocks.get(lane.sequence_id)
        if hit is None:
            hit = self._blocks[lane.sequence_id] = blocks(self.board, lane, self.now)
        return node_id in hit


def blocks(board: Board, lane: Lane, now: float) -> frozenset[str]:
    """Nodes blocked for the lane now; none if that would be every node that can run it.

    Blocking every capable node would only stall the sequence: its chunks
    then retry anywhere, and max_attempts decides whether it fails.
    """
    if not lane.failures:
        return frozenset()
    farm = board.farm
    out = frozenset(
        node_id
        for node_id, record in lane.failures.items()
        if node_id in board.nodes and blocked(record, now, farm.block_after, farm.forgive_after)
    )
    capable = sum(board.count.get(k, 0) for k in lane.capable)
    within = sum(1 for n in out if board.nodes[n].gpu_class in lane.capable)
    return frozenset() if within >= capable else out


def plan(board: Board, now: float) -> DispatchPlan:
    ctx = _Context(board, now)
    overruns = _overruns(ctx)
    for o in overruns:
        board.lanes[o.sequence_id].paused = True
    undo: list[tuple[Any, ...]] = []
    assignments: list[Assignment] = []
    try:
        free = sorted(board.classes_with_free(), key=lambda k: (-board.farm.speed(k), k))
        for gpu_class in free:
            _fill(ctx, gpu_class, assignments, undo)
        preemptions = _preempt(ctx, undo) if board.victims and board.active else []
    finally:
        _undo(board, undo)
        for o in overruns:
            board.lanes[o.sequence_id].paused = False
    return DispatchPlan(tuple(assignments), tuple(preemptions), tuple(overruns))


def _overruns(ctx: _Context) -> list[Overrun]:
    board = ctx.board
    if not board.model.knows(board.engine):
        return []
    out = []
    for lane in board.lanes.values():
        if lane.budget is None or lane.paused or not (lane.queued or lane.held or lane.waiting_retry):
            continue  # nothing left to pay for: the sequence is past rendering
        classes = {k: board.count.get(k, 0) for k in lane.capable}
        left = ((lane.key(s), u) for s, u in lane.units_left.items())
        projected = projected_usd(ctx.farm, board.model, lane.spent, left, classes)
        if projected > lane.budget:
            out.append(Overrun(lane.sequence_id, projected, lane.budget))
    return out


def _fill(ctx: _Context, gpu_class: str, out: list[Assignment], undo: list[tuple[Any, ...]]) -> None:
    board = ctx.board
    skip: set[str] = set()
    while board.active:
        node = board.best_free(gpu_class, skip)  # type: ignore[arg-type]
        if node is None:
            return
        choice, blocked_here = _select(ctx, gpu_class, node.node_id)
        if choice is None:
            if blocked_here and len(skip) < MAX_NODE_SKIPS:
                skip.add(node.node_id)
                continue
            return
        lane, chunk = choice
        board.assign(lane.sequence_id, chunk.chunk_id, node.node_id)
        undo.append(("assign", lane.sequence_id, chunk.chunk_id))
        out.append(Assignment(lane.sequence_id, chunk.chunk_id, node.node_id, chunk.attempt))


def _select(ctx: _Context, gpu_class: str, node_id: str) -> tuple[tuple[Lane, Chunk] | None, bool]:
    """The best (lane, chunk) for a slot of this class on this node, and whether a block got in the way."""
    board = ctx.board
    slots = board.slots.get(gpu_class, 0)
    best: tuple[Lane, Chunk] | None = None
    best_rank: tuple[Any, ...] | None = None
    blocked_here = False
    for show, lanes in board.active.items():
        place = standing(ctx.farm, show, gpu_class, board.usage.get((show, gpu_class), 0), slots)
        if place is None:
            continue
        bucket, tier = place
        for lane in lanes:  # best first: a show's first runnable lane is its candidate
            if best_rank is not None and (bucket, -lane.priority) > best_rank[:2]:
                break
            if lane.paused or gpu_class not in lane.capable:
                continue
            if lane.failures and ctx.blocked(lane, node_id):
                blocked_here = True
                continue
            chunk = _pick(ctx, lane, gpu_class)
            if chunk is None:
                continue
            rank = (bucket, -lane.priority, not ctx.critical(lane), tier, lane.serial)
            if best_rank is None or rank < best_rank:
                best, best_rank = (lane, chunk), rank
            break
    return best, blocked_here


def _pick(ctx: _Context, lane: Lane, gpu_class: str) -> Chunk | None:
    """The lane's chunk for this class: critical-longest, else timeline head; None if the class is too slow."""
    head = lane.head()
    if head is None:
        return None
    model = ctx.board.model
    fast_class, fast_speed = ctx.board.fastest(lane.capable)
    top = lane.longest_chunk()
    candidates = [head]
    if top is not None and top is not head and top.units >= LONGER * head.units:
        longest = model.seconds(lane.key(top.samples), fast_class, fast_speed, top.units)
        if longest >= ctx.fraction * ctx.lane_horizon(lane):
            candidates.insert(0, top)
    if gpu_class == fast_class:
        return candidates[0]
    speed = ctx.farm.speed(gpu_class)
    for chunk in candidates:
        key = lane.key(chunk.samples)
        here = model.seconds(key, gpu_class, speed, chunk.units)
        if here <= model.seconds(key, fast_class, fast_speed, chunk.units) or here <= SLOW_FIT * ctx.lane_horizon(lane):
            return chunk
    return None


def _preempt(ctx: _Context, undo: list[tuple[Any, ...]]) -> list[Preemption]:
    """Take back chunks waiting at nodes when strictly higher-priority work would get their slot."""
    board = ctx.board
    top = max((lane.priority for lanes in board.active.values() for lane in lanes if not lane.paused), default=None)
    out: list[Preemption] = []
    seen: set[AttemptKey] = set()
    set_aside: list[tuple[Any, ...]] = []
    while board.victims and top is not None and len(seen) < MAX_PREEMPTIONS:
        entry = board.victims[0]
        priority, stamp, key = entry[0], entry[-2], entry[-1]
        chunk = board.held.get(key[:2])
        if chunk is None or chunk.stamp != stamp or chunk.attempt != key[2]:
            heapq.heappop(board.victims)
            continue
        if priority >= top:
            break
        heapq.heappop(board.victims)
        if key in seen:  # tried already in this decision (and put back in line)
            set_aside.append(entry)
            continue
        seen.add(key)
        node_id = chunk.node
        assert node_id is not None
        index = board.nodes[node_id].held.index(key)
        board.preempt(key[0], key[1])
        undo.append(("preempt", key[0], key[1], node_id, index))
        choice, _ = _select(ctx, board.nodes[node_id].gpu_class, node_id)
        if choice is None or choice[0].priority <= board.lanes[key[0]].priority:
            _undo(board, [undo.pop()])
            continue
        lane, taker = choice
        board.assign(lane.sequence_id, taker.chunk_id, node_id)
        undo.append(("assign", lane.sequence_id, taker.chunk_id))
        out.append(Preemption(key[0], key[1], node_id, key[2], lane.sequence_id))
    for entry in set_aside:
        heapq.heappush(board.victims, entry)
    return out


def _undo(board: Board, undo: list[tuple[Any, ...]]) -> None:
    while undo:
        step = undo.pop()
        if step[0] == "assign":
            board.unassign(step[1], step[2])
        else:
            _, sid, cid, node_id, index = step
            board.unpreempt(sid, cid, node_id, index)
