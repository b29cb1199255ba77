"""The live farm's maintained board (core.live_board) is the board state would build, after every event.

A seeded farm runs through everything that moves chunks: dispatches,
renders, failures with backoff and blocked nodes, preemption for a more
urgent show, budgets paused and raised, priorities changed, a shot
re-rendered while its old attempts still hold slots, chunks invalidated, a
cancellation, a restart. After each event the decisions made on the
maintained board must equal those made on a board built from state, and the
two boards must keep the same books, and the demand read from the
maintained board's counters must be the demand a scan of state finds.
Chunk-level events must never rebuild.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from orchestrator.core import admission
from orchestrator.core import events as ev
from orchestrator.core.commands import Dispatch, ExceedBudget, Fail, Finish, Forgive, Plan, Preempt, RetryLater
from orchestrator.core.decide import decide
from orchestrator.core.demand import demand_by_class, demand_on
from orchestrator.core.isolation import fold, isolated
from orchestrator.core.live_board import LiveBoard
from orchestrator.core.snapshot import board_of
from orchestrator.core.state import FarmState, Policy
from orchestrator.core.status import ChunkStatus, SequenceStatus
from orchestrator.scheduling.board import Board
from orchestrator.scheduling.farm import FarmConfig, NodeClass
from pipelines.chunking import plan_chunks
from tests.builders import sequence, shot

FAST = NodeClass(name="fast", count=2, speed=1.0, usd_per_hour=4.0)
SLOW = NodeClass(name="slow", count=2, speed=0.5, usd_per_hour=1.0)
HOT = (ev.ChunkStarted, ev.ChunkRendered, ev.ChunkFailed, ev.ChunkQueued, ev.ChunkPreempted, ev.BudgetExceeded,
       ev.NodeForgiven)  # fmt: skip


def books(board: Board) -> dict[str, Any]:
    """What a board knows, leaving out heap entries gone stale and counters at zero."""

    def live(d: dict[Any, float]) -> dict[Any, float]:
        return {k: round(v, 6) for k, v in d.items() if abs(v) > 1e-9}

    return {
        "lanes": {
            sid: (sorted(lane.queued), sorted(lane.waiting_retry), live(lane.units_left), round(lane.spent, 9),
                  lane.held, lane.paused, lane.priority, lane.budget, dict(lane.failures),
                  sorted((c.chunk_id, c.attempt) for c in lane.queued.values()))
            for sid, lane in board.lanes.items()
        },  # fmt: skip
        "nodes": {n: list(node.held) for n, node in board.nodes.items()},
        "usage": {k: v for k, v in board.usage.items() if v},
        "queued": live(board.queued_units),
        "running": live(board.running_units),
        "model": (board.model.prior, board.model.exact, board.model.normal),
        "active": {show: [lane.sequence_id for lane in lanes] for show, lanes in board.active.items()},
    }


class Farm:
    """evolve and decide driven as the coordinator drives them, with a maintained board beside the state."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        farm = FarmConfig(classes=(FAST, SLOW), block_after=2, forgive_after=5.0)
        self.state = FarmState(policy=Policy(farm=farm, max_attempts=6))
        self.live = LiveBoard(self.state)
        self.t, self.seq_no = 0.0, 0
        self.timers: list[ev.Event] = []
        self.specs: dict[str, Any] = {}
        self.events = 0
        self.rebuilt_by: list[str] = []

    def emit(self, event: ev.Event) -> None:
        before, rebuilds = self.state, self.live.rebuilds
        self.seq_no += 1
        self.state = fold(self.state, self.seq_no, event)
        self.live.follow(before, self.state, event)
        self.events += 1
        if self.live.rebuilds != rebuilds:
            self.rebuilt_by.append(event.type)
        if isolated(self.state, event.sequence_id):
            return
        expected = decide(self.state, event)
        got = decide(self.state, event, self.live.board)
        assert got == expected, f"after {event.type}"
        assert books(self.live.board) == books(board_of(self.state, own=True)), f"after {event.type}"
        assert demand_on(self.live.board) == demand_by_class(self.state), f"after {event.type}"
        for command in got:
            self.execute(command)

    def execute(self, command: Any) -> None:
        t = self.t
        match command:
            case Plan(sequence_id=sid):
                spec = self.specs[sid]
                versions = {s.name: 1 for s in spec.shots}
                self.emit(ev.ShotsPlanned(at=t, sequence_id=sid, versions=versions, chunks=tuple(plan_chunks(spec, 2))))
            case Dispatch():
                self.emit(command.started(t, self.state.nodes[command.node_id].gpu_class))
            case Preempt():
                self.emit(command.preempted(t))
            case ExceedBudget():
                self.emit(command.exceeded(t))
            case RetryLater():
                self.timers.append(ev.ChunkQueued(at=t, sequence_id=command.sequence_id, chunk_id=command.chunk_id, reason="retry"))
            case Forgive():
                self.timers.append(ev.NodeForgiven(at=t + command.delay, sequence_id=command.sequence_id, node_id=command.node_id))
            case Fail(sequence_id=sid, reason=reason):
                self.emit(ev.SequenceFailed(at=t, sequence_id=sid, reason=reason))
            case Finish(sequence_id=sid):
                self.emit(ev.SequenceCompleted(at=t, sequence_id=sid))
            case _:
                pass  # checks, stitches and deliverables do not move chunks

    def submit(self, name: str, show: str, priority: int, budget: float | None = None) -> None:
        extra: dict[str, Any] = {"priority": priority} | ({"budget_usd": budget} if budget else {})
        spec = sequence(shot("sh010", 1001, 1024), shot("sh020", 1025, 1044, angle=40), shot("sh030", 1045, 1060),
                        **extra).model_copy(update={"sequence": name, "show": show})  # fmt: skip
        sid = f"{show}:{name}"
        self.specs[sid] = spec
        self.emit(ev.SequenceSubmitted(at=self.t, sequence_id=sid, spec=spec.model_dump(mode="json"), spec_digest=sid))

    def start_pool(self) -> None:
        nodes = [("f0", "fast"), ("f1", "fast"), ("s0", "slow"), ("s1", "slow")]
        infos = tuple(ev.NodeInfo(node_id=n, gpu_class=c, slots=2) for n, c in nodes)
        self.emit(ev.PoolStarted(at=self.t, sequence_id=ev.FARM, nodes=infos))

    # -- what happens in the world --------------------------------------------------

    def answer(self) -> bool:
        running = [(nid, key) for nid, node in self.state.nodes.items() for key in node.queue[:1]]
        if not running:
            return False
        nid, key = self.rng.choice(running)
        seq = self.state.sequences.get(key.sequence_id)
        if seq is None or key.chunk_id not in seq.chunks:
            return False
        base = dict(at=self.t, sequence_id=key.sequence_id, chunk_id=key.chunk_id, attempt=key.attempt, node_id=nid)
        if self.rng.random() < 0.85:
            plan = seq.chunks[key.chunk_id].plan
            frames = tuple(ev.FrameRecord(frame=f, key=f"k/{f}", digest="-") for f in plan.frames)
            gpu_class = self.state.nodes[nid].gpu_class
            self.emit(ev.ChunkRendered(gpu_class=gpu_class, frames=frames, node_seconds=1.0 + self.rng.random(),
                                       cost_usd=0.01, **base))  # fmt: skip
        else:
            retryable = self.rng.random() < 0.9
            self.emit(ev.ChunkFailed(error="boom", retryable=retryable, node_fault=self.rng.random() < 0.7, **base))
        return True

    def meddle(self) -> None:
        """Something a person or a check does, now and then."""
        rendering = [s for s in self.state.sequences.values() if s.status is SequenceStatus.RENDERING]
        if not rendering:
            return
        seq = self.rng.choice(rendering)
        roll = self.rng.random()
        if roll < 0.3:
            self.emit(ev.SchedulingChanged(at=self.t, sequence_id=seq.sequence_id, priority=self.rng.randrange(0, 100),
                                           budget_usd=None))  # fmt: skip
        elif roll < 0.6:
            shot_name = self.rng.choice([s.name for s in seq.spec.shots])
            self.emit(admission.requeue(self.state, seq.sequence_id, shot_name, {}, None, 2, self.t))
        elif roll < 0.9:
            done = [c for c in seq.chunks.values() if c.status is ChunkStatus.RENDERED]
            if done:
                c = self.rng.choice(done)
                self.emit(ev.ChunkInvalidated(at=self.t, sequence_id=seq.sequence_id, chunk_id=c.plan.chunk_id, reason="bad frame"))
        else:
            self.emit(admission.cancellation(self.state, seq.sequence_id, "cancelled", self.t))

    def run(self, steps: int) -> None:
        self.start_pool()
        self.submit("sq010", "alpha", 50)
        self.submit("sq020", "beta", 30, budget=0.05)
        for i in range(steps):
            self.t += 1.0
            if i == 20:
                self.submit("sq030", "gamma", 95)  # urgent: preempts what waits at nodes
            if i == steps // 2:
                self.start_pool()  # a restart: everything in flight is queued again
            roll = self.rng.random()
            if roll < 0.1 and self.timers:
                self.emit(self.timers.pop(self.rng.randrange(len(self.timers))))
            elif roll < 0.14:
                self.meddle()
            elif not self.answer() and self.timers:
                self.emit(self.timers.pop(0))


@pytest.mark.parametrize("seed", range(6))
def test_the_maintained_board_decides_as_a_board_built_from_state_after_every_event(seed):
    farm = Farm(seed)
    farm.run(200)
    assert farm.events > 120
    assert not set(farm.rebuilt_by) & {cls.__name__ for cls in HOT}, "a chunk-level event rebuilt the board"


def test_a_board_is_rebuilt_only_for_events_that_reshape_the_farm():
    farm = Farm(1)
    farm.run(160)
    assert farm.rebuilt_by
    assert set(farm.rebuilt_by) <= {"PoolStarted", "ShotsPlanned", "ShotRequeued", "ChunkInvalidated",
                                    "SequenceCompleted", "SequenceFailed", "SequenceCancelled", "SchedulingChanged"}  # fmt: skip
    assert len(farm.rebuilt_by) < farm.events / 10


def test_metrics_fed_the_maintained_board_report_what_metrics_reading_state_report():
    from orchestrator.config.cost import PriceBook
    from orchestrator.projections.metrics import FarmMetrics

    def scraped(metrics: FarmMetrics) -> list[tuple[str, list[tuple[str, str]], float]]:
        return sorted((s.name, sorted(s.labels.items()), s.value) for m in metrics.registry.collect() for s in m.samples
                      if not s.name.startswith("shotfarm_build") and not s.name.endswith("_created"))  # fmt: skip

    farm = Farm(3)
    from_state, from_board = FarmMetrics(PriceBook()), FarmMetrics(PriceBook())
    from_board.board = lambda: farm.live.board
    emit, waited = farm.emit, []

    def observed(event: ev.Event) -> None:
        emit(event)
        if not isolated(farm.state, event.sequence_id):
            from_state.observe(event, farm.state)
            from_board.observe(event, farm.state)
            assert scraped(from_board) == scraped(from_state), f"after {event.type}"
            waited.extend(v for name, _, v in scraped(from_board) if name == "shotfarm_chunks_waiting" and v)

    farm.emit = observed  # type: ignore[method-assign]
    farm.run(120)
    assert waited, "some chunks waited for a reason during the run"
