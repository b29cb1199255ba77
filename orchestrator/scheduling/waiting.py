"""Why each queued chunk is waiting, in the words of the policy that keeps it waiting.

Maestro publishes why frames wait; so does this. A reason belongs to a
lane (every queued chunk of a sequence waits for the same reason) except
backoff, which belongs to chunks in their retry wait. The checks run in the
order a person would want them answered: a reason no amount of waiting
fixes (budget, no capable node) before one that resolves on its own.
Reads a board after a decision; never changes it.
"""

from __future__ import annotations

from collections import Counter
from enum import Enum
from typing import Any

from orchestrator.scheduling.board import Board, Lane
from orchestrator.scheduling.fairshare import limited, place
from orchestrator.scheduling.policy import blocks


class WaitReason(str, Enum):
    NO_FREE_SLOT = "no_free_slot"
    """Next in line: every slot that could take it is busy."""
    PRIORITY = "priority"
    """Higher-priority work is ahead of it for every class that can run it."""
    SHARE = "share"
    """Its show is at its burst ceiling, or other shows are further below their share."""
    BUDGET = "budget"
    """Its sequence's projected cost passed the budget: dispatch is paused."""
    NO_CAPABLE_NODE = "no_capable_node"
    """No node in the pool can run it (class, engine, frame size)."""
    BACKOFF = "retry_backoff"
    """It failed and waits out its backoff before the next attempt."""
    NEIGHBOUR_FRAME = "neighbour_frame"
    """A generated shot waits for the neighbour's frame it is generated from (it is not on the board yet)."""


def explain(board: Board, now: float) -> dict[str, Counter[WaitReason]]:
    """sequence_id -> how many of its chunks wait for each reason."""
    out: dict[str, Counter[WaitReason]] = {}
    for lane in board.lanes.values():
        counts: Counter[WaitReason] = Counter()
        if lane.queued:
            counts[lane_reason(board, lane, now)] = len(lane.queued)
        if lane.waiting_retry:
            counts[WaitReason.BACKOFF] = len(lane.waiting_retry)
        out[lane.sequence_id] = counts
    return out


def chunk_reason(board: Board, sequence_id: str, chunk_id: str, now: float) -> WaitReason | None:
    """Why this chunk waits; None if it is not waiting (running, rendered, unknown)."""
    lane = board.lanes.get(sequence_id)
    if lane is None:
        return None
    if chunk_id in lane.waiting_retry:
        return WaitReason.BACKOFF
    return lane_reason(board, lane, now) if chunk_id in lane.queued else None


def lane_reason(board: Board, lane: Lane, now: float) -> WaitReason:
    if lane.paused:
        return WaitReason.BUDGET
    classes = _usable_classes(board, lane, now)
    if not classes:
        return WaitReason.NO_CAPABLE_NODE
    open_classes = [
        k for k in classes if not limited(board.farm, lane.show, k, board.usage.get((lane.show, k), 0), board.slots[k])
    ]
    if not open_classes:
        return WaitReason.SHARE
    reasons = [_behind(board, lane, k) for k in open_classes]
    # The class where it stands best says what it is waiting for.
    order = [WaitReason.NO_FREE_SLOT, WaitReason.SHARE, WaitReason.PRIORITY]
    return min(reasons, key=order.index)


def _usable_classes(board: Board, lane: Lane, now: float) -> list[str]:
    """Capable classes with at least one node that is not blocked for the lane."""
    blocked_by_class = Counter(board.nodes[n].gpu_class for n in blocks(board, lane, now))
    return sorted(k for k in lane.capable if board.count.get(k, 0) > blocked_by_class[k])


def _behind(board: Board, lane: Lane, gpu_class: str) -> WaitReason:
    """What the best competitor for the class's next slot has over this lane."""
    mine = _rank(board, lane, gpu_class)
    assert mine is not None
    best = None
    for lanes in board.active.values():
        for other in lanes:
            if other.paused or gpu_class not in other.capable:
                continue
            rank = _rank(board, other, gpu_class)
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, other)
            break  # a show's first runnable lane is the one it puts forward
    if best is None or best[1] is lane:
        return WaitReason.NO_FREE_SLOT
    rank, other = best
    if rank[0] < mine[0]:
        return WaitReason.SHARE  # the other show is below its guarantee
    if rank[1] < mine[1]:
        return WaitReason.PRIORITY
    if other.show != lane.show and rank[2] < mine[2]:
        return WaitReason.SHARE
    return WaitReason.NO_FREE_SLOT  # same standing: an older sequence goes first


def _rank(board: Board, lane: Lane, gpu_class: str) -> tuple[Any, ...] | None:
    usage, slots = board.usage.get((lane.show, gpu_class), 0), board.slots.get(gpu_class, 0)
    if limited(board.farm, lane.show, gpu_class, usage, slots):
        return None
    bucket, tier = place(board.farm, lane.show, gpu_class, usage, slots)
    return (bucket, -lane.priority, tier, lane.serial)
