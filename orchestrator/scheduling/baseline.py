"""FIFO by priority: the Flamenco and Deadline default, kept as the benchmarks' baseline.

Highest priority first, then the oldest sequence, then timeline order; each
chunk goes to the node with the most free slots whatever its class (a node
must still be able to run it). No fair share, no runtime model, no
blocklist, no budgets, no preemption. Same board and same DispatchPlan as
policy.plan, so the simulator runs either.
"""

from __future__ import annotations

from orchestrator.scheduling.board import Board, Lane, Node
from orchestrator.scheduling.policy import Assignment, DispatchPlan


def plan(board: Board, now: float) -> DispatchPlan:
    del now  # FIFO needs no clock: nothing expires
    undo: list[tuple[str, str]] = []
    out: list[Assignment] = []
    idle: set[str] = set()  # classes no queued chunk can use
    try:
        while board.active:
            node = _emptiest_node(board, idle)
            if node is None:
                break
            lane = _first_lane(board, node.gpu_class)
            if lane is None:
                idle.add(node.gpu_class)
                continue
            chunk = lane.head()
            assert chunk is not None  # an active lane has a queued chunk
            board.assign(lane.sequence_id, chunk.chunk_id, node.node_id)
            undo.append((lane.sequence_id, chunk.chunk_id))
            out.append(Assignment(lane.sequence_id, chunk.chunk_id, node.node_id, chunk.attempt))
    finally:
        for sid, cid in reversed(undo):
            board.unassign(sid, cid)
    return DispatchPlan(tuple(out))


def _first_lane(board: Board, gpu_class: str) -> Lane | None:
    lanes = (lane for lanes in board.active.values() for lane in lanes if gpu_class in lane.capable)
    return min(lanes, key=Lane.order_key, default=None)


def _emptiest_node(board: Board, idle: set[str]) -> Node | None:
    best = None
    for gpu_class in board.free:
        node = None if gpu_class in idle else board.best_free(gpu_class)
        if node is not None and (best is None or (-node.free, node.node_id) < (-best.free, best.node_id)):
            best = node
    return best
