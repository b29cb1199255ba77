"""The policy inside the live core: the events it adds, how evolve folds them, what decide asks for."""

from __future__ import annotations

import pytest

from orchestrator.core import events as ev
from orchestrator.core import snapshot
from orchestrator.core.commands import Dispatch, ExceedBudget, Forgive, Preempt, RetryLater
from orchestrator.core.decide import decide, dispatch
from orchestrator.core.evolve import evolve
from orchestrator.core.snapshot import board_of
from orchestrator.core.state import Policy
from orchestrator.core.status import ChunkStatus
from orchestrator.scheduling.farm import FarmConfig, NodeClass
from orchestrator.scheduling.waiting import WaitReason, explain
from tests.builders import SID, failed, farm, planned, pool, rendered, sequence, started, submitted

FIRST, SECOND, THIRD = "sh010.1001-1004", "sh010.1005-1008", "sh020.1009-1012"
OTHER = "demo:sq020"


def step(state, event):
    state = evolve(state, event)
    return state, decide(state, event)


def second_sequence(priority: int = 50, **extra):
    spec = sequence(priority=priority, **extra).model_dump(mode="json") | {"sequence": "sq020"}
    return (
        ev.SequenceSubmitted(at=0.2, sequence_id=OTHER, spec=spec, spec_digest="d2"),
        planned().model_copy(update={"sequence_id": OTHER}),
    )


def classes(*nodes: tuple[str, str]) -> ev.PoolStarted:
    infos = tuple(ev.NodeInfo(node_id=n, gpu_class=c, slots=1) for n, c in nodes)
    return ev.PoolStarted(at=0.5, sequence_id=ev.FARM, nodes=infos)


def test_decide_sends_the_first_chunk_to_the_fastest_class():
    config = FarmConfig(classes=(NodeClass(name="slow", speed=0.25), NodeClass(name="fast", speed=1.0)))
    state = farm(classes(("slow-0", "slow"), ("fast-0", "fast")), submitted(), policy=Policy(farm=config))
    _, commands = step(state, planned())
    assert commands[0] == Dispatch(SID, FIRST, "fast-0", 1)


def test_a_node_queue_keeps_the_order_chunks_were_sent_in():
    state = farm(pool("cpu-0", slots=2), submitted(), planned(), started(SECOND), started(FIRST))
    assert state.nodes["cpu-0"].queue == ((SID, SECOND, 1), (SID, FIRST, 1))
    state = evolve(state, rendered(state, SECOND))
    assert state.nodes["cpu-0"].queue == ((SID, FIRST, 1),)


def test_a_preempted_chunk_is_queued_again_and_its_slot_is_free_at_once():
    state = farm(pool("cpu-0", slots=2), submitted(), planned(), started(FIRST), started(SECOND))
    preempted = ev.ChunkPreempted(at=3, sequence_id=SID, chunk_id=SECOND, attempt=1, node_id="cpu-0", reason="r")
    state, commands = step(state, preempted)
    chunk = state.sequences[SID].chunks[SECOND]
    assert chunk.status is ChunkStatus.QUEUED and chunk.attempt == 1 and chunk.node_id is None
    assert state.nodes["cpu-0"].free == 1
    assert Dispatch(SID, SECOND, "cpu-0", 2) in commands


def test_a_late_answer_from_a_preempted_attempt_changes_nothing_and_asks_for_no_retry():
    state = farm(pool("cpu-0", slots=2), submitted(), planned(), started(FIRST), started(SECOND))
    state = evolve(state, ev.ChunkPreempted(at=3, sequence_id=SID, chunk_id=SECOND, attempt=1, node_id="cpu-0", reason="r"))
    after, commands = step(state, failed(SECOND))
    assert after.sequences[SID].chunks[SECOND].status is ChunkStatus.QUEUED
    assert not [c for c in commands if isinstance(c, RetryLater)]
    fenced = evolve(state, rendered(state, SECOND))
    assert fenced.sequences[SID].chunks[SECOND].status is ChunkStatus.QUEUED


def test_higher_priority_work_takes_back_a_chunk_waiting_at_a_node():
    state = farm(pool("cpu-0", slots=2), submitted(sequence(priority=10)), planned(), started(FIRST), started(SECOND))
    submit, plan = second_sequence(priority=90)
    state = evolve(state, submit)
    _, commands = step(state, plan)
    assert [c for c in commands if isinstance(c, Preempt)] == [Preempt(SID, SECOND, "cpu-0", 1, f"preempted for {OTHER}")]


def test_cancelling_takes_back_everything_the_sequence_has_at_nodes():
    state = farm(pool("cpu-0", slots=2), submitted(), planned(), started(FIRST), started(SECOND))
    _, commands = step(state, ev.SequenceCancelled(at=4, sequence_id=SID))
    assert sorted(c.chunk_id for c in commands if isinstance(c, Preempt)) == [FIRST, SECOND]


def test_the_runtime_model_learns_from_accepted_renders_only():
    state = farm(pool(), submitted(), planned(), started(FIRST))
    learned = evolve(state, rendered(state, FIRST))
    assert learned.runtime.knows("pathtracer") and learned.runtime.observations() == 1
    stale = evolve(state, rendered(state, FIRST, attempt=1).model_copy(update={"attempt": 9}))
    assert not stale.runtime.knows("pathtracer")


def budgeted(budget: float):
    seq = sequence(budget_usd=budget)
    dear = Policy(farm=FarmConfig(classes=(NodeClass(name="cpu", usd_per_hour=3600.0),)))
    state = farm(pool("cpu-0", slots=1), submitted(seq), planned(seq), started(FIRST), policy=dear)
    # 2 node-seconds ($2) for a 4-frame chunk: the two left are projected at $2 each, $6 in all.
    return state, rendered(state, FIRST).model_copy(update={"cost_usd": 2.0, "node_seconds": 2.0})


def test_a_render_that_pushes_the_projection_over_budget_asks_to_pause_the_sequence():
    state, event = budgeted(budget=3.0)
    _, commands = step(state, event)
    assert [type(c) for c in commands if isinstance(c, ExceedBudget | Dispatch)] == [ExceedBudget]
    assert commands[-1] == ExceedBudget(SID, pytest.approx(6.0), 3.0)


def test_a_budget_that_covers_the_projection_dispatches_on():
    state, event = budgeted(budget=500.0)
    _, commands = step(state, event)
    assert not [c for c in commands if isinstance(c, ExceedBudget)]
    assert [c.chunk_id for c in commands if isinstance(c, Dispatch)] == [SECOND]


def test_a_paused_sequence_dispatches_nothing_says_why_and_resumes_when_rescheduled():
    state, event = budgeted(budget=3.0)
    state = evolve(state, event)
    state, commands = step(state, ev.BudgetExceeded(at=4, sequence_id=SID, projected_usd=6.0, budget_usd=3.0))
    assert commands == [] and "budget exceeded" in state.sequences[SID].reason
    _, commands = step(state, ev.ChunkQueued(at=5, sequence_id=SID, chunk_id=SECOND, reason="x"))
    assert not [c for c in commands if isinstance(c, Dispatch)]
    assert explain(board_of(state), 5)[SID][WaitReason.BUDGET] == 2
    state, commands = step(state, ev.SchedulingChanged(at=6, sequence_id=SID, priority=50, budget_usd=100.0))
    assert state.sequences[SID].over_budget is None and state.sequences[SID].spec.budget_usd == 100.0
    assert [c.chunk_id for c in commands if isinstance(c, Dispatch)] == [SECOND]


def blocked_farm(forgive_after: float = 60.0):
    config = FarmConfig(classes=(NodeClass(name="cpu"),), block_after=2, forgive_after=forgive_after)
    state = farm(pool("cpu-0", "cpu-1"), submitted(), planned(), policy=Policy(farm=config, max_attempts=5))
    state = evolve(state, started(FIRST))
    state = evolve(state, failed(FIRST).model_copy(update={"at": 10.0}))
    state = evolve(state, ev.ChunkQueued(at=11, sequence_id=SID, chunk_id=FIRST, reason="retry"))
    state = evolve(state, started(FIRST, attempt=2))
    return step(state, failed(FIRST, attempt=2).model_copy(update={"at": 20.0}))


def test_the_failure_that_blocks_a_node_asks_for_its_forgiveness_later():
    state, commands = blocked_farm()
    assert state.node_failures[SID, "cpu-0"] == (2, 20.0)
    assert Forgive(SID, "cpu-0", 60.0) in commands
    assert all(c.node_id == "cpu-1" for c in commands if isinstance(c, Dispatch))


def test_forgiveness_lifts_the_block_but_not_before_its_time():
    state, _ = blocked_farm()
    early, commands = step(state, ev.NodeForgiven(at=50.0, sequence_id=SID, node_id="cpu-0"))
    assert early.node_failures[SID, "cpu-0"] == (2, 20.0) and Forgive(SID, "cpu-0", 30.0) in commands
    later, _ = step(state, ev.NodeForgiven(at=80.0, sequence_id=SID, node_id="cpu-0"))
    assert (SID, "cpu-0") not in later.node_failures


def test_a_failure_long_after_the_last_one_starts_the_count_again():
    state, _ = blocked_farm(forgive_after=5.0)
    state = evolve(state, ev.ChunkQueued(at=21, sequence_id=SID, chunk_id=FIRST, reason="retry"))
    state = evolve(state, started(FIRST, attempt=3))
    state = evolve(state, failed(FIRST, attempt=3).model_copy(update={"at": 100.0}))
    assert state.node_failures[SID, "cpu-0"] == (1, 100.0)


def test_a_sequence_no_pool_node_can_run_waits_with_that_reason_not_silently():
    config = FarmConfig(classes=(NodeClass(name="cpu", max_pixels=100), NodeClass(name="h100")))
    state = farm(pool("cpu-0"), submitted(), policy=Policy(farm=config))
    state, commands = step(state, planned())
    assert not [c for c in commands if isinstance(c, Dispatch)]
    assert explain(board_of(state), 2)[SID] == {WaitReason.NO_CAPABLE_NODE: 3}


@pytest.mark.parametrize("event_type", ["BudgetExceeded", "NodeForgiven", "SchedulingChanged", "ChunkPreempted"])
def test_the_new_events_round_trip_through_json(event_type):
    samples = {
        "BudgetExceeded": ev.BudgetExceeded(at=1, sequence_id=SID, projected_usd=2, budget_usd=1),
        "NodeForgiven": ev.NodeForgiven(at=1, sequence_id=SID, node_id="cpu-0"),
        "SchedulingChanged": ev.SchedulingChanged(at=1, sequence_id=SID, priority=70, budget_usd=None),
        "ChunkPreempted": ev.ChunkPreempted(at=1, sequence_id=SID, chunk_id="c", attempt=1, node_id="n", reason="r"),
    }
    event = samples[event_type]
    assert ev.event_from_json(event.model_dump_json()) == event


def test_decisions_on_a_state_do_not_depend_on_which_states_were_decided_on_before():
    states = [farm(pool("cpu-0", "cpu-1", slots=2), submitted(), planned())]
    for event in (started(FIRST), started(SECOND, node="cpu-1")):
        states.append(evolve(states[-1], event))
    states.append(evolve(states[-1], rendered(states[-1], FIRST)))
    fresh = []
    for state in states:
        snapshot._CACHE.clear()
        fresh.append(dispatch(state, 1.0))
    for order in (states, states[::-1], [states[0], states[3], states[1], states[2]]):
        assert [dispatch(s, 1.0) for s in order] == [fresh[states.index(s)] for s in order]
