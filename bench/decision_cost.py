"""Decision cost: microseconds per dispatch with 100,000 chunks queued and 1,000 nodes busy.

Fills a 1,000-node four-class farm from about 100,000 queued chunks of 20
sequences, then repeats: one running chunk finishes, the policy plans, the
plan is applied. Times `policy.plan` alone (the goal is <= 50 us), with
FIFO-by-priority's plan on the same board beside it; then the live
coordinator's whole cost per event on that farm, as a FarmState with the
board kept up to date beside it (core.live_board): a chunk renders, evolve
folds it, the board follows, decide dispatches, and the ChunkStarted it
asks for is folded too. For scale: deciding from a board built from the
FarmState each time (O(chunks)), and the previous timeline-order dispatch.

The maintained row starts from a full garbage collection. Python runs one
over every live object (here about 750,000, mostly the queued chunks) once
the objects promoted since the last one reach a quarter of those kept;
about 0.35 s each. Without the collection, whether one falls into the
row's 4,000 events (some 90 us per event) depends on what the rows before
it allocated, not on what an event costs: fewer objects per queued chunk
bring it sooner. The row says how many fell inside it.

    .venv/bin/python bench/decision_cost.py [--chunks 100000] [--gpus 1000] [--decisions 5000]
"""

from __future__ import annotations

import argparse
import gc
import random
import time

from orchestrator.core import events as ev
from orchestrator.core.commands import Dispatch
from orchestrator.core.decide import decide, dispatch
from orchestrator.core.evolve import evolve, replay
from orchestrator.core.live_board import LiveBoard
from orchestrator.core.snapshot import chunks_for, lane_for
from orchestrator.core.state import FarmState, Policy
from orchestrator.core.status import ChunkStatus, SequenceStatus
from orchestrator.scheduling import baseline, policy
from orchestrator.scheduling.board import Board
from orchestrator.scheduling.runtime import RuntimeModel
from orchestrator.simulation import workload


def busy_board(farm, sequences) -> Board:
    board = Board(farm, RuntimeModel(prior=2e-8), "pathtracer")
    for c in farm.classes:
        for i in range(c.count):
            board.add_node(f"{c.name}-{i:04d}", c.name, c.slots)
    for serial, s in enumerate(sequences):
        lane = board.add_lane(lane_for(s.sequence, s.sequence_id, serial, farm, "pathtracer"))
        for chunk in chunks_for(s.sequence, s.sequence_id, s.chunks):
            board.add_chunk(lane, chunk)
            board.queue(s.sequence_id, chunk)
    for a in policy.plan(board, 0.0).assignments:
        board.assign(a.sequence_id, a.chunk_id, a.node_id)
    return board


def per_decision(planner, board: Board, decisions: int, seed: int = 0) -> float:
    rng = random.Random(seed)
    held = list(board.held)
    spent = 0.0
    for i in range(decisions):
        sid, cid = held.pop(rng.randrange(len(held)))
        board.rendered(sid, cid)
        started = time.perf_counter()
        plan = planner(board, float(i))
        spent += time.perf_counter() - started
        for a in plan.assignments:
            board.assign(a.sequence_id, a.chunk_id, a.node_id)
            held.append((a.sequence_id, a.chunk_id))
    return 1e6 * spent / decisions


def live_state(farm, sequences, running: dict) -> FarmState:
    """The same farm as the live core holds it: every node busy but one."""
    events: list = [
        ev.PoolStarted(
            at=0, sequence_id=ev.FARM,
            nodes=tuple(ev.NodeInfo(node_id=f"{c.name}-{i:04d}", gpu_class=c.name, slots=1)
                        for c in farm.classes for i in range(c.count)),
        )
    ]  # fmt: skip
    for s in sequences:
        events.append(ev.SequenceSubmitted(at=0, sequence_id=s.sequence_id, spec=s.sequence.model_dump(mode="json"),
                                           spec_digest="-"))  # fmt: skip
        events.append(ev.ShotsPlanned(at=0, sequence_id=s.sequence_id,
                                      versions={x.name: 1 for x in s.sequence.shots}, chunks=s.chunks))  # fmt: skip
    for (sid, cid), node in list(running.items())[1:]:
        events.append(ev.ChunkStarted(at=1, sequence_id=sid, chunk_id=cid, attempt=1, node_id=node,
                                      gpu_class=node.rsplit("-", 1)[0]))  # fmt: skip
    return replay(events, FarmState(policy=Policy(farm=farm)))


def timeline_dispatch(state: FarmState) -> int:
    """The dispatch this policy replaced: queued chunks in timeline order, scanned from the state."""
    free = {n.node_id: n.free for n in state.nodes.values() if n.free > 0}
    count = 0
    for seq in sorted(state.sequences.values(), key=lambda s: (s.submitted_at, s.sequence_id)):
        if seq.status is not SequenceStatus.RENDERING:
            continue
        for _ in seq.chunks_in(ChunkStatus.QUEUED):
            if not free:
                return count
            node = max(sorted(free), key=lambda n: free[n])
            free[node] -= 1
            count += 1
            if not free[node]:
                del free[node]
    return count


def timed(fn, repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return 1e6 * (time.perf_counter() - started) / repeat


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--chunks", type=int, default=100_000)
    p.add_argument("--gpus", type=int, default=1000)
    p.add_argument("--decisions", type=int, default=5000)
    args = p.parse_args()
    farm = workload.gpu_farm(args.gpus)
    sequences = workload.studio(chunks=args.chunks + args.gpus, shows=4, sequences_per_show=5, seed=1)
    board = busy_board(farm, sequences)
    running = {key: chunk.node for key, chunk in board.held.items()}
    queued = sum(len(lane.queued) for lane in board.lanes.values())
    print(f"{queued:,} chunks queued, {len(board.held):,} running on {args.gpus:,} nodes, {len(board.lanes)} sequences")
    ours = per_decision(policy.plan, board, args.decisions)
    fifo = per_decision(baseline.plan, busy_board(farm, sequences), args.decisions)
    print(f"shotfarm plan on the board:          {ours:9.1f} us per dispatch (goal <= 50)")
    print(f"fifo-by-priority on the same board:  {fifo:9.1f} us per dispatch")
    state = live_state(farm, sequences, running)
    cold = timed(lambda: dispatch(state, 1.0), 1)
    changed = _one_more_started(state)
    live = timed(lambda: (dispatch(changed, 2.0), dispatch(state, 1.0)), 10) / 2
    old = timed(lambda: timeline_dispatch(state), 3)
    print(f"live path, decide.dispatch on a FarmState, one node free: {live / 1000:7.2f} ms per decision "
          f"({cold / 1000:.0f} ms the first time, when every lane is built)")  # fmt: skip
    print(f"previous timeline dispatch on the same FarmState:         {old / 1000:7.2f} ms per decision")
    per_event, rebuilds, full = maintained(state, min(args.decisions, 2000))
    print(f"live path, maintained board: render folded, board followed, decided, start folded: "
          f"{per_event:7.1f} us per event ({rebuilds} rebuilds, {full} full collections)")  # fmt: skip


def maintained(state: FarmState, renders: int) -> tuple[float, int, int]:
    """Microseconds per event of evolve + LiveBoard.follow + decide, over ChunkRendered and the ChunkStarted it leads
    to; the board's rebuilds, and the full garbage collections that ran meanwhile."""
    live = LiveBoard(state)
    gc.collect()  # what the rows before allocated is not this row's to collect
    full = gc.get_stats()[2]["collections"]
    rng = random.Random(0)
    busy = [n.node_id for n in state.nodes.values() if n.running]
    events = 0
    started = time.perf_counter()
    for i in range(renders):
        node = state.nodes[rng.choice(busy)]  # every node stays busy: a freed slot is filled at once
        if not node.running:
            continue
        key = next(iter(node.running))
        plan = state.sequences[key.sequence_id].chunks[key.chunk_id].plan
        frames = tuple(ev.FrameRecord(frame=f, key="k", digest="-") for f in plan.frames)
        pending: list[ev.Event] = [ev.ChunkRendered(
            at=2.0 + i, sequence_id=key.sequence_id, chunk_id=key.chunk_id, attempt=key.attempt, node_id=node.node_id,
            gpu_class=node.gpu_class, frames=frames, node_seconds=30.0, cost_usd=0.01,
        )]  # fmt: skip
        while pending:
            event = pending.pop()
            before, state = state, evolve(state, event)
            live.follow(before, state, event)
            events += 1
            for command in decide(state, event, live.board):
                if isinstance(command, Dispatch):
                    pending.append(command.started(event.at, state.nodes[command.node_id].gpu_class))
    return 1e6 * (time.perf_counter() - started) / events, live.rebuilds, gc.get_stats()[2]["collections"] - full


def _one_more_started(state: FarmState) -> FarmState:
    """The state after the next event of one sequence: what the live core decides on next."""
    node = next(n for n in state.nodes.values() if n.free)
    seq = next(iter(state.sequences.values()))
    chunk = next(c for c in seq.chunks.values() if c.status is ChunkStatus.QUEUED)
    started = ev.ChunkStarted(at=2, sequence_id=seq.sequence_id, chunk_id=chunk.plan.chunk_id, attempt=1,
                              node_id=node.node_id, gpu_class=node.gpu_class)  # fmt: skip
    return evolve(state, started)


if __name__ == "__main__":
    main()
