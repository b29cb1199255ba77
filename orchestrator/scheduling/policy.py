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
from dataclasses import dataclass

from orchestrator.scheduling.blocklist import blocked
from orchestrator.scheduling.board import Board, Chunk, Lane
from orchestrator.scheduling.budget import projected_usd
from orchestrator.scheduling.fairshare import standing

MAX_NODE_SKIPS = 8
"""Nodes of one class tried per decision when the best chunks are blocked on them."""
MAX_PREEMPTIONS = 16
GROUP_CRITICAL = 0.8
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
class Plan:
    assignments: tuple[Assignment, ...] = ()
    preemptions: tuple[Preemption, ...] = ()
    overruns: tuple[Overrun, ...] = ()


def horizon(board: Board) -> float:
    """Seconds until the farm drains at full speed: queued work plus half the running, over capacity."""
    if board.capacity <= 0:
        return float("inf")
    ref = board.model.reference
    work = sum(u * ref(k) for k, u in board.queued_units.items() if u > 0)
    work += 0.5 * sum(u * ref(k) for k, u in board.running_units.items() if u > 0)
    return work / board.capacity


class _Context:
    """What one decision computes once: the horizon, each lane's fastest class, each class group's drain."""

    def __init__(self, board: Board, now: float):
        self.board, self.now = board, now
        self.farm = board.farm
        self.horizon = horizon(board)
        self.fraction = self.farm.critical_fraction
        self._fast: dict[str, tuple[str, float]] = {}
        self._groups: dict[frozenset[str], tuple[bool, float]] = {}
        self._present = frozenset(k for k, n in board.count.items() if n)

    def group(self, lane: Lane) -> tuple[bool, float]:
        """(critical, horizon) for the lane's group of capable classes.

        A group is critical when the work only it can run would take at least
        `critical_fraction` of the farm's drain time on its own nodes: its
        lanes then go ahead of fair share's tier on those classes, or the
        farm would finish everything else and wait for them.
        """
        hit = self._groups.get(lane.capable)
        if hit is None:
            present = lane.capable & self._present
            if not present or present == self._present:
                hit = (False, self.horizon)
            else:
                work = _work(self.board, self.board.group_units, present, self._present)
                work += 0.5 * _work(self.board, self.board.group_running, present, self._present)
                cap = sum(self.board.count[k] * self.farm.speed(k) for k in present)
                drain = work / cap if cap > 0 else float("inf")
                hit = (drain >= GROUP_CRITICAL * self.horizon, max(self.horizon, drain))
            self._groups[lane.capable] = hit
        return hit

    def fastest(self, lane: Lane) -> tuple[str, float]:
        hit = self._fast.get(lane.sequence_id)
        if hit is None:
            present = [(self.farm.speed(k), k) for k in lane.capable if self.board.count.get(k)]
            speed, name = max(present) if present else (1.0, "")
            hit = self._fast[lane.sequence_id] = (name, speed)
        return hit

    def blocked(self, lane: Lane, node_id: str) -> bool:
        record = lane.failures.get(node_id)
        return record is not None and blocked(record, self.now, self.farm.block_after, self.farm.forgive_after)


def _work(board: Board, by_group: dict, present: frozenset[str], everywhere: frozenset[str]) -> float:
    """Reference seconds of the work that only classes in `present` can run."""
    ref = board.model.reference
    return sum(
        u * ref(k) for g, units in by_group.items() if g & everywhere <= present for k, u in units.items() if u > 0
    )


def plan(board: Board, now: float) -> Plan:
    ctx = _Context(board, now)
    overruns = _overruns(ctx)
    for o in overruns:
        board.lanes[o.sequence_id].paused = True
    undo: list[tuple] = []
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
    return Plan(tuple(assignments), tuple(preemptions), tuple(overruns))


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


def _fill(ctx: _Context, gpu_class: str, out: list[Assignment], undo: list[tuple]) -> None:
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
    best_rank: tuple | None = None
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
            critical, lane_horizon = ctx.group(lane)
            chunk = _pick(ctx, lane, gpu_class, lane_horizon)
            if chunk is None:
                continue
            rank = (bucket, -lane.priority, not critical, tier, lane.serial)
            if best_rank is None or rank < best_rank:
                best, best_rank = (lane, chunk), rank
            break
    return best, blocked_here


def _pick(ctx: _Context, lane: Lane, gpu_class: str, lane_horizon: float) -> Chunk | None:
    """The lane's chunk for this class: critical-longest, else timeline head; None if the class is too slow."""
    head = lane.head()
    if head is None:
        return None
    model, farm = ctx.board.model, ctx.farm
    fast_class, fast_speed = ctx.fastest(lane)
    top = lane.longest_chunk()
    candidates = [head]
    if top is not None and top is not head:
        if model.seconds(lane.key(top.samples), fast_class, fast_speed, top.units) >= ctx.fraction * lane_horizon:
            candidates.insert(0, top)
    if gpu_class == fast_class:
        return candidates[0]
    speed = farm.speed(gpu_class)
    for chunk in candidates:
        key = lane.key(chunk.samples)
        here = model.seconds(key, gpu_class, speed, chunk.units)
        if here <= lane_horizon or here <= model.seconds(key, fast_class, fast_speed, chunk.units):
            return chunk
    return None


def _preempt(ctx: _Context, undo: list[tuple]) -> list[Preemption]:
    """Take back chunks waiting at nodes when strictly higher-priority work would get their slot."""
    board = ctx.board
    top = max((lane.priority for lanes in board.active.values() for lane in lanes if not lane.paused), default=None)
    out: list[Preemption] = []
    seen: set[tuple[str, str, int]] = set()
    set_aside: list[tuple] = []
    while board.victims and top is not None and len(seen) < MAX_PREEMPTIONS:
        entry = board.victims[0]
        priority, _, stamp, key = entry
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


def _undo(board: Board, undo: list[tuple]) -> None:
    while undo:
        step = undo.pop()
        if step[0] == "assign":
            board.unassign(step[1], step[2])
        else:
            _, sid, cid, node_id, index = step
            board.unpreempt(sid, cid, node_id, index)
