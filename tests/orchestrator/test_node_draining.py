"""A render node whose machine is being stopped: it gets no new chunk, what it refused queues again
as if never sent, and what it renders finishes.

Pure core only (evolve, decide, the maintained board); tests/e2e/test_multinode_scaling.py
drains a real Ray node mid-run, and tests/orchestrator/test_node_calls.py the coordinator's part.
"""

from __future__ import annotations

import pytest

from orchestrator.core import events as ev
from orchestrator.core.commands import Dispatch, Preempt
from orchestrator.core.decide import decide
from orchestrator.core.evolve import evolve, replay
from orchestrator.core.live_board import LiveBoard
from orchestrator.core.snapshot import board_of
from orchestrator.core.state import FarmState, Policy
from orchestrator.core.status import ChunkStatus
from tests.builders import SID, failed, farm, planned, pool, rendered, started, submitted

FIRST, SECOND, THIRD = "sh010.1001-1004", "sh010.1005-1008", "sh020.1009-1012"


def draining(node: str = "cpu-1", at: float = 2.5) -> ev.NodeDraining:
    return ev.NodeDraining(at=at, sequence_id=ev.FARM, node_id=node)


def refused(chunk_id: str, node: str = "cpu-1", attempt: int = 1, at: float = 2.6) -> ev.ChunkRefused:
    return ev.ChunkRefused(at=at, sequence_id=SID, chunk_id=chunk_id, attempt=attempt, node_id=node)


def joined(node: str = "cpu-1", at: float = 9.0) -> ev.NodeJoined:
    return ev.NodeJoined(at=at, sequence_id=ev.FARM, node=ev.NodeInfo(node_id=node, gpu_class="cpu", slots=1))


def dispatched(commands: list) -> list[tuple[str, str, int]]:
    return [(c.chunk_id, c.node_id, c.attempt) for c in commands if isinstance(c, Dispatch)]


def two_nodes_each_rendering() -> FarmState:
    return farm(pool("cpu-0", "cpu-1"), submitted(), planned(), started(FIRST), started(SECOND, node="cpu-1"))


def test_a_draining_node_has_no_free_slot_and_keeps_what_it_renders():
    state = evolve(farm(pool("cpu-0", "cpu-1"), submitted(), planned(), started(SECOND, node="cpu-1")), draining())
    node = state.nodes["cpu-1"]
    assert node.draining and node.free == 0
    assert node.running == {(SID, SECOND, 1)}
    assert state.sequences[SID].chunks[SECOND].status is ChunkStatus.RUNNING


def test_a_chunk_rendered_on_a_draining_node_is_accepted():
    state = evolve(two_nodes_each_rendering(), draining())
    state = evolve(state, rendered(state, SECOND, node="cpu-1"))
    assert state.sequences[SID].chunks[SECOND].status is ChunkStatus.RENDERED
    assert state.nodes["cpu-1"].running == frozenset()


def test_no_chunk_is_dispatched_to_a_draining_node_once_its_chunk_is_done():
    state = evolve(two_nodes_each_rendering(), draining())
    event = rendered(state, SECOND, node="cpu-1")
    after = evolve(state, event)
    assert dispatched(decide(after, event)) == [], "cpu-1 is free but drains; cpu-0 is busy"
    event = rendered(after, FIRST)
    after = evolve(after, event)
    assert dispatched(decide(after, event)) == [(THIRD, "cpu-0", 1)]


def test_a_refused_chunk_queues_again_with_its_attempt_given_back_and_no_failure_counted():
    state = evolve(farm(pool("cpu-0", "cpu-1"), submitted(), planned(), started(FIRST), started(SECOND, node="cpu-1")), draining())
    state = evolve(state, refused(SECOND))
    chunk = state.sequences[SID].chunks[SECOND]
    assert (chunk.status, chunk.attempt, chunk.node_id, chunk.failures) == (ChunkStatus.QUEUED, 0, None, ())
    assert state.nodes["cpu-1"].running == frozenset() and state.nodes["cpu-1"].queue == ()
    assert state.node_failures == {}, "a refusal says nothing against the node"


def test_a_refusal_alone_keeps_the_chunk_from_going_back_to_the_node_that_refused_it():
    state = farm(pool("cpu-0", "cpu-1"), submitted(), planned(), started(FIRST), started(SECOND, node="cpu-1"))
    event = refused(SECOND)  # recorded before the node's NodeDraining
    after = evolve(state, event)
    assert after.nodes["cpu-1"].draining
    assert dispatched(decide(after, event)) == []


def test_the_refused_chunk_renders_elsewhere_as_its_first_attempt():
    state = evolve(two_nodes_each_rendering(), draining())
    state = evolve(state, refused(SECOND))
    event = rendered(state, FIRST)
    state = evolve(state, event)
    assert dispatched(decide(state, event)) == [(SECOND, "cpu-0", 1)], "timeline order: the refused chunk goes first"


def test_a_refusal_does_not_bring_a_chunk_closer_to_giving_up():
    policy = Policy(max_attempts=2)
    events = [pool("cpu-0", "cpu-1"), submitted(), planned(), started(FIRST, node="cpu-1"), refused(FIRST), draining()]
    state = replay([*events, started(FIRST), failed(FIRST)], FarmState(policy=policy))
    assert state.sequences[SID].chunks[FIRST].status is ChunkStatus.RETRY_WAIT, "one failure of two allowed"


def test_a_refusal_for_an_attempt_taken_back_meanwhile_only_frees_its_slot():
    state = evolve(two_nodes_each_rendering(), draining())
    taken_back = ev.ChunkPreempted(at=2.55, sequence_id=SID, chunk_id=SECOND, attempt=1, node_id="cpu-1", reason="cancelled")
    state = evolve(evolve(state, taken_back), started(SECOND, attempt=2))
    after = evolve(state, refused(SECOND))
    assert after.sequences[SID].chunks[SECOND] is state.sequences[SID].chunks[SECOND]


def test_draining_again_or_an_unknown_node_changes_nothing():
    state = evolve(two_nodes_each_rendering(), draining())
    assert evolve(state, draining(at=3.0)) is state
    assert evolve(state, draining("gpu-9")) is state


def test_chunks_waiting_at_a_draining_node_are_taken_back_and_the_one_it_renders_is_not():
    state = farm(pool("cpu-0", "cpu-1", slots=2), submitted(), planned(), started(FIRST, node="cpu-1"), started(SECOND, node="cpu-1"))
    event = draining()
    after = evolve(state, event)
    commands = decide(after, event)
    assert [(c.chunk_id, c.node_id, c.attempt) for c in commands if isinstance(c, Preempt)] == [(SECOND, "cpu-1", 1)]
    assert dispatched(commands) == []


def test_a_node_back_on_another_machine_takes_work_again():
    state = evolve(farm(pool("cpu-0", "cpu-1"), submitted(), planned(), started(FIRST)), draining())
    event = joined()
    after = evolve(state, event)
    assert not after.nodes["cpu-1"].draining and after.nodes["cpu-1"].free == 1
    assert dispatched(decide(after, event)) == [(SECOND, "cpu-1", 1)]


def test_a_replayed_log_still_knows_the_node_drains():
    events = [pool("cpu-0", "cpu-1"), submitted(), planned(), started(FIRST), started(SECOND, node="cpu-1"), refused(SECOND), draining()]
    state = replay(events)
    assert state.nodes["cpu-1"].draining
    assert "cpu-1" not in [n for n in board_of(state).nodes if board_of(state).nodes[n].free > 0]
    event = rendered(state, FIRST)
    assert dispatched(decide(evolve(state, event), event)) == [(SECOND, "cpu-0", 1)]


def test_a_restart_starts_every_node_anew():
    state = farm(pool("cpu-0", "cpu-1"), submitted(), planned(), draining(), pool("cpu-0", "cpu-1"))
    assert not state.nodes["cpu-1"].draining


def test_the_draining_node_counts_for_no_slot_or_capacity_on_the_board_but_holds_its_chunk():
    state = evolve(two_nodes_each_rendering(), draining())
    board = board_of(state)
    assert board.count["cpu"] == 1 and board.slots["cpu"] == 1 and board.capacity == board.farm.speed("cpu")
    assert board.nodes["cpu-1"].held == [(SID, SECOND, 1)], "it still holds what it renders"


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([draining()], id="drains-while-rendering"),
        pytest.param([refused(SECOND), draining()], id="refuses"),
        pytest.param([refused(SECOND), draining(), joined()], id="comes-back"),
        pytest.param([draining(), joined(), draining(at=9.5)], id="drains-again"),
    ],
)
def test_the_maintained_board_decides_as_a_board_built_from_state(events):
    state = two_nodes_each_rendering()
    live = LiveBoard(state)
    for event in [*events]:
        after = evolve(state, event)
        live.follow(state, after, event)
        state = after
        assert decide(state, event, live.board) == decide(state, event, board_of(state))
    for event in [rendered(state, FIRST)]:
        after = evolve(state, event)
        live.follow(state, after, event)
        assert decide(after, event, live.board) == decide(after, event, board_of(after))


def test_a_drain_and_a_refusal_move_the_maintained_board_without_a_rebuild():
    state = two_nodes_each_rendering()
    live = LiveBoard(state)
    for event in (refused(SECOND), draining()):
        after = evolve(state, event)
        live.follow(state, after, event)
        state = after
    assert live.rebuilds == 0
    built = board_of(state)
    assert (live.board.count, live.board.slots, live.board.capacity) == (built.count, built.slots, built.capacity)
