"""The board: the farm as the policy reads it, indexed so a decision is cheap.

Queued chunks live in lanes, one lane per rendering sequence, each with a
timeline heap and a longest-first heap; nodes keep their held chunks in the
order they were sent (the first renders, the rest wait at the node); each
class keeps a heap of nodes with free slots. Every operation is O(log n),
so a decision never rescans the queue.

A board is filled from a FarmState in one pass (`snapshot.board_of`) or
kept up to date operation by operation: by the simulator, and by the live
farm (core.live_board), with the same operations.
`policy.plan` uses assign/unassign to try assignments and undoes them
before it returns, so a plan leaves the board as it found it. This module
decides nothing: it only keeps the books.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any

from orchestrator.scheduling.blocklist import count_failure
from orchestrator.scheduling.farm import FarmConfig, Need
from orchestrator.scheduling.ids import AttemptKey
from orchestrator.scheduling.runtime import Key, RuntimeModel

ChunkKey = tuple[str, str]  # (sequence_id, chunk_id)

_STAMPS = itertools.count(1)
"""Heap entries are valid while their stamp matches their chunk's; one counter for every
board, since boards built from a state share the lanes of unchanged sequences (snapshot.py)."""


@dataclass(slots=True, eq=False)
class Chunk:
    sequence_id: str
    chunk_id: str
    units: float
    samples: int
    order: int
    """Timeline position: shot index in the timeline, then first frame."""
    attempt: int = 0
    """The last attempt started; the next dispatch is attempt + 1."""
    stamp: int = 0
    node: str | None = None


@dataclass(slots=True, eq=False)
class Lane:
    """One rendering sequence's chunks, as scheduling sees them."""

    sequence_id: str
    show: str
    priority: int
    serial: int
    """Submission order among lanes (older first)."""
    need: Need
    base: tuple[str, int, int]
    capable: frozenset[str]
    budget: float | None = None
    spent: float = 0.0
    paused: bool = False
    queued: dict[str, Chunk] = field(default_factory=dict)
    timeline: list[Any] = field(default_factory=list)
    longest: list[Any] = field(default_factory=list)
    units_left: dict[int, float] = field(default_factory=dict)
    """samples -> cost units not rendered yet (queued, held or backing off): what the budget projects."""
    waiting_retry: dict[str, Chunk] = field(default_factory=dict)
    held: int = 0
    failures: dict[str, tuple[int, float]] = field(default_factory=dict)
    """node -> (failures, time of the last): the blocklist."""

    def key(self, samples: int) -> Key:
        return (*self.base, samples)

    def head(self) -> Chunk | None:
        """First queued chunk in timeline order."""
        return _top(self.timeline, self.queued, 2)

    def longest_chunk(self) -> Chunk | None:
        return _top(self.longest, self.queued, 3)

    def order_key(self) -> tuple[int, int]:
        return (-self.priority, self.serial)


def _top(heap: list[Any], queued: dict[str, Chunk], at: int) -> Chunk | None:
    while heap:
        entry = heap[0]
        chunk = queued.get(entry[at])
        if chunk is not None and chunk.stamp == entry[at - 1]:
            return chunk
        heapq.heappop(heap)  # stale: taken, or pushed again since
    return None


@dataclass(slots=True, eq=False)
class Node:
    node_id: str
    gpu_class: str
    slots: int
    held: list[AttemptKey] = field(default_factory=list)
    stamp: int = 0
    draining: bool = False
    """Its machine is being stopped: no slot, no capacity, nothing waiting there to take back for
    another chunk; it only holds what it was sent until that is let go."""

    @property
    def free(self) -> int:
        return self.slots - len(self.held)


class Board:
    def __init__(self, farm: FarmConfig, model: RuntimeModel, engine: str):
        self.farm, self.model, self.engine = farm, model, engine
        self.lanes: dict[str, Lane] = {}
        self.active: dict[str, list[Lane]] = {}
        """show -> its lanes with queued chunks, best first."""
        self.nodes: dict[str, Node] = {}
        self.free: dict[str, list[Any]] = {}
        self.slots: dict[str, int] = {}
        self.count: dict[str, int] = {}
        self.capacity = 0.0
        self.usage: dict[tuple[str, str], int] = {}
        self.held: dict[ChunkKey, Chunk] = {}
        self.victims: list[Any] = []
        """Chunks waiting at a node behind another: what preemption may take back (lazily cleaned)."""
        self.queued_units: dict[Key, float] = {}
        self.group_units: dict[frozenset[str], dict[Key, float]] = {}
        """Queued units by the set of classes that can run them: what each group of classes must drain."""
        self.group_running: dict[frozenset[str], dict[Key, float]] = {}
        self.running_units: dict[Key, float] = {}
        self._fastest: dict[frozenset[str], tuple[str, float]] = {}
        self._present: frozenset[str] | None = None

    def _next(self) -> int:
        return next(_STAMPS)

    # -- nodes ---------------------------------------------------------------------

    def add_node(self, node_id: str, gpu_class: str, slots: int, draining: bool = False) -> None:
        if draining:
            self.nodes[node_id] = Node(node_id, gpu_class, 0, draining=True)
            return
        node = self.nodes[node_id] = Node(node_id, gpu_class, slots)
        self.slots[gpu_class] = self.slots.get(gpu_class, 0) + slots
        self.count[gpu_class] = self.count.get(gpu_class, 0) + 1
        self.capacity += self.farm.speed(gpu_class)
        self._fastest.clear()
        self._present = None
        self._touch(node)

    def drain(self, node_id: str) -> None:
        """The node takes no new chunk from now on, as if `add_node` had been told it drains."""
        node = self.nodes[node_id]
        if node.draining:
            return
        self.slots[node.gpu_class] -= node.slots
        self.count[node.gpu_class] -= 1
        self.capacity -= self.farm.speed(node.gpu_class)
        self._fastest.clear()
        self._present = None
        node.slots, node.draining = 0, True
        for key in node.held[1:]:  # waiting there: no longer what preemption may hand to another chunk
            chunk = self.held.get(key[:2])
            if chunk is not None and chunk.attempt == key[2] and chunk.stamp < 0:
                chunk.stamp = 0
        self._touch(node)

    def present(self) -> frozenset[str]:
        """Classes with at least one node."""
        if self._present is None:
            self._present = frozenset(k for k, n in self.count.items() if n)
        return self._present

    def fastest(self, capable: frozenset[str]) -> tuple[str, float]:
        """(class, speed) of the fastest class with nodes among `capable`; ("", 1.0) if none has nodes."""
        hit = self._fastest.get(capable)
        if hit is None:
            present = [(self.farm.speed(k), k) for k in capable if self.count.get(k)]
            speed, name = max(present) if present else (1.0, "")
            hit = self._fastest[capable] = (name, speed)
        return hit

    def _touch(self, node: Node) -> None:
        node.stamp = self._next()
        if node.draining:
            return
        if node.free > 0:
            heapq.heappush(self.free.setdefault(node.gpu_class, []), (-node.free, node.node_id, node.stamp))
        for key in node.held[1:]:
            chunk = self.held.get(key[:2])
            if chunk is not None and chunk.attempt == key[2] and chunk.stamp >= 0:
                lane = self.lanes[chunk.sequence_id]
                chunk.stamp = -self._next()  # negative: registered as waiting at its node
                # Lowest priority, youngest sequence, latest in its timeline first: an
                # order that does not depend on how the board was built.
                entry = (lane.priority, -lane.serial, -chunk.order, node.node_id, chunk.stamp, key)
                heapq.heappush(self.victims, entry)

    def best_free(self, gpu_class: str, skip: frozenset[str] = frozenset()) -> Node | None:
        """The class's node with the most free slots (ties by name), or None."""
        heap = self.free.get(gpu_class)
        if heap is None:
            return None
        set_aside = []
        found = None
        while heap:
            _, node_id, stamp = heap[0]
            node = self.nodes[node_id]
            if node.stamp != stamp or node.free <= 0:
                heapq.heappop(heap)
                continue
            if node_id in skip:
                set_aside.append(heapq.heappop(heap))
                continue
            found = node
            break
        for entry in set_aside:
            heapq.heappush(heap, entry)
        return found

    def classes_with_free(self) -> list[str]:
        return [k for k in self.free if self.best_free(k) is not None]

    def hold(self, sequence_id: str, chunk: Chunk, node_id: str) -> None:
        """A chunk already running (or waiting) at a node, behind whatever that node holds."""
        lane = self.lanes[sequence_id]
        self._hold(lane, chunk, self.nodes[node_id], len(self.nodes[node_id].held))

    def hold_unscheduled(self, node_id: str, key: AttemptKey) -> None:
        """A slot held by work the board does not schedule (a superseded attempt, a finished sequence)."""
        node = self.nodes[node_id]
        node.held.append(key)
        self._touch(node)

    def let_go(self, node_id: str, key: AttemptKey) -> None:
        """Undo `hold_unscheduled`: the superseded attempt's node answered."""
        node = self.nodes[node_id]
        node.held.remove(key)
        self._freed(node)

    # -- lanes ---------------------------------------------------------------------

    def add_lane(self, lane: Lane) -> Lane:
        self.lanes[lane.sequence_id] = lane
        return lane

    def count_queue(self, lane: Lane, queued_units: dict[int, float]) -> None:
        """Count a lane whose queue was filled elsewhere (samples -> units queued), as `queue` would have."""
        if lane.queued:
            self._activate(lane)
        group = self.group_units.setdefault(lane.capable, {})
        for samples, units in queued_units.items():
            key = lane.key(samples)
            self.queued_units[key] = self.queued_units.get(key, 0.0) + units
            group[key] = group.get(key, 0.0) + units

    def add_chunk(self, lane: Lane, chunk: Chunk) -> None:
        """A chunk that still has to render joins its lane's budget (queue it separately)."""
        lane.units_left[chunk.samples] = lane.units_left.get(chunk.samples, 0.0) + chunk.units

    def queue(self, sequence_id: str, chunk: Chunk) -> None:
        lane = self.lanes[sequence_id]
        chunk.stamp = self._next()
        chunk.node = None
        if not lane.queued:
            self._activate(lane)
        lane.queued[chunk.chunk_id] = chunk
        heapq.heappush(lane.timeline, (chunk.order, chunk.stamp, chunk.chunk_id))
        heapq.heappush(lane.longest, (-chunk.units, chunk.order, chunk.stamp, chunk.chunk_id))
        key = lane.key(chunk.samples)
        self.queued_units[key] = self.queued_units.get(key, 0.0) + chunk.units
        group = self.group_units.setdefault(lane.capable, {})
        group[key] = group.get(key, 0.0) + chunk.units

    def _dequeue(self, lane: Lane, chunk_id: str) -> Chunk:
        chunk = lane.queued.pop(chunk_id)
        key = lane.key(chunk.samples)
        self.queued_units[key] -= chunk.units
        self.group_units[lane.capable][key] -= chunk.units
        if not lane.queued:
            self.active[lane.show].remove(lane)
            if not self.active[lane.show]:
                del self.active[lane.show]
        return chunk

    def _activate(self, lane: Lane) -> None:
        lanes = self.active.setdefault(lane.show, [])
        lanes.append(lane)
        lanes.sort(key=Lane.order_key)

    def set_priority(self, lane: Lane, priority: int) -> None:
        lane.priority = priority
        if lane.show in self.active:
            self.active[lane.show].sort(key=Lane.order_key)

    # -- chunks moving -------------------------------------------------------------

    def assign(self, sequence_id: str, chunk_id: str, node_id: str) -> Chunk:
        """Send a queued chunk to a node: its next attempt starts there."""
        lane = self.lanes[sequence_id]
        chunk = self._dequeue(lane, chunk_id)
        chunk.attempt += 1
        self._hold(lane, chunk, self.nodes[node_id], len(self.nodes[node_id].held))
        return chunk

    def unpreempt(self, sequence_id: str, chunk_id: str, node_id: str, index: int) -> None:
        """Undo `preempt` exactly: the chunk is back at its place in the node's line."""
        lane = self.lanes[sequence_id]
        self._hold(lane, self._dequeue(lane, chunk_id), self.nodes[node_id], index)

    def _hold(self, lane: Lane, chunk: Chunk, node: Node, index: int) -> None:
        chunk.node = node.node_id
        chunk.stamp = 0
        node.held.insert(index, AttemptKey(lane.sequence_id, chunk.chunk_id, chunk.attempt))
        self.held[lane.sequence_id, chunk.chunk_id] = chunk
        lane.held += 1
        usage = (lane.show, node.gpu_class)
        self.usage[usage] = self.usage.get(usage, 0) + 1
        key = lane.key(chunk.samples)
        self.running_units[key] = self.running_units.get(key, 0.0) + chunk.units
        group = self.group_running.setdefault(lane.capable, {})
        group[key] = group.get(key, 0.0) + chunk.units
        self._touch(node)

    def release(self, sequence_id: str, chunk_id: str) -> Chunk:
        """The chunk's node let go of it (rendered, failed or taken back)."""
        chunk = self.held.pop((sequence_id, chunk_id))
        lane = self.lanes[sequence_id]
        node = self.nodes[chunk.node]  # type: ignore[index]
        node.held.remove(AttemptKey(sequence_id, chunk_id, chunk.attempt))
        lane.held -= 1
        self.usage[lane.show, node.gpu_class] -= 1
        key = lane.key(chunk.samples)
        self.running_units[key] -= chunk.units
        self.group_running[lane.capable][key] -= chunk.units
        chunk.stamp = 0
        chunk.node = None
        self._freed(node)
        return chunk

    def _freed(self, node: Node) -> None:
        if node.held:
            head = self.held.get(node.held[0][:2])
            if head is not None and head.stamp < 0:
                head.stamp = 0  # it renders now: no longer waiting at the node
        self._touch(node)

    def unassign(self, sequence_id: str, chunk_id: str) -> None:
        """Undo `assign` exactly (the attempt number too)."""
        chunk = self.release(sequence_id, chunk_id)
        chunk.attempt -= 1
        self.queue(sequence_id, chunk)

    def rendered(self, sequence_id: str, chunk_id: str, cost_usd: float = 0.0) -> Chunk:
        chunk = self.release(sequence_id, chunk_id)
        lane = self.lanes[sequence_id]
        lane.units_left[chunk.samples] -= chunk.units
        lane.spent += cost_usd
        return chunk

    def failed(self, sequence_id: str, chunk_id: str, retry: bool, cost_usd: float = 0.0) -> Chunk:
        """A failed attempt: the chunk waits out its backoff, or gives up for good."""
        chunk = self.release(sequence_id, chunk_id)
        lane = self.lanes[sequence_id]
        lane.spent += cost_usd
        if retry:
            lane.waiting_retry[chunk_id] = chunk
        else:
            lane.units_left[chunk.samples] -= chunk.units
        return chunk

    def retry(self, sequence_id: str, chunk_id: str) -> None:
        """Backoff over: the chunk is queued again."""
        chunk = self.lanes[sequence_id].waiting_retry.pop(chunk_id)
        self.queue(sequence_id, chunk)

    def preempt(self, sequence_id: str, chunk_id: str) -> Chunk:
        """Take back a chunk waiting at a node; it queues again with its attempt unspent."""
        chunk = self.release(sequence_id, chunk_id)
        self.queue(sequence_id, chunk)
        return chunk

    def waiting_at_node(self, key: AttemptKey) -> Chunk | None:
        """The chunk, if it is held at a node but not rendering there yet."""
        chunk = self.held.get(key[:2])
        if chunk is None or chunk.attempt != key[2] or chunk.stamp >= 0:
            return None
        return chunk

    def fail_on(self, sequence_id: str, node_id: str, at: float) -> None:
        lane = self.lanes[sequence_id]
        lane.failures[node_id] = count_failure(lane.failures.get(node_id), at, self.farm.forgive_after)
