"""A render node that comes up after its pool started: it joins, takes work, and abandons nothing.

Pure core only (evolve, decide, the maintained board); tests/e2e/test_multinode_join.py
joins a real Ray node mid-run.
"""

from __future__ import annotations

from orchestrator.core import events as ev
from orchestrator.core.commands import Dispatch
from orchestrator.core.decide import decide
from orchestrator.core.evolve import evolve
from orchestrator.core.live_board import LiveBoard
from orchestrator.core.snapshot import board_of
from orchestrator.core.status import ChunkStatus
from tests.builders import SID, farm, planned, pool, started, submitted

FIRST = "sh010.1001-1004"


def joined(node: str, slots: int = 1, at: float = 2.5) -> ev.NodeJoined:
    return ev.NodeJoined(at=at, sequence_id=ev.FARM, node=ev.NodeInfo(node_id=node, gpu_class="cpu", slots=slots))


def test_a_node_that_joins_is_in_the_pool_with_its_slots_free():
    state = farm(pool("cpu-0"), submitted(), planned(), joined("cpu-1", slots=2))
    assert sorted(state.nodes) == ["cpu-0", "cpu-1"]
    assert state.nodes["cpu-1"].free == 2


def test_a_join_keeps_what_the_nodes_already_up_hold():
    state = farm(pool("cpu-0"), submitted(), planned(), started(FIRST), joined("cpu-1"))
    assert state.sequences[SID].chunks[FIRST].status is ChunkStatus.RUNNING
    assert state.nodes["cpu-0"].running == {(SID, FIRST, 1)}


def test_a_node_joining_again_changes_nothing():
    state = farm(pool("cpu-0"), submitted(), planned(), joined("cpu-1"), started(FIRST, node="cpu-1"))
    assert evolve(state, joined("cpu-1", at=3.0)) is state


def test_a_restart_forgets_the_nodes_that_joined_until_they_join_again():
    state = farm(pool("cpu-0"), submitted(), planned(), joined("cpu-1"), started(FIRST, node="cpu-1"), pool("cpu-0"))
    assert sorted(state.nodes) == ["cpu-0"]
    assert state.sequences[SID].chunks[FIRST].status is ChunkStatus.QUEUED


def test_queued_work_is_dispatched_to_the_node_that_joins():
    state = farm(pool("cpu-0"), submitted(), planned(), started(FIRST))  # cpu-0's one slot is taken
    assert not [c for c in decide(state, started(FIRST)) if isinstance(c, Dispatch)]
    event = joined("cpu-1")
    after = evolve(state, event)
    dispatches = [c for c in decide(after, event) if isinstance(c, Dispatch)]
    assert [c.node_id for c in dispatches] == ["cpu-1"]


def test_the_maintained_board_takes_in_the_node_that_joins():
    before = farm(pool("cpu-0"), submitted(), planned(), started(FIRST))
    live = LiveBoard(before)
    event = joined("cpu-1", slots=2)
    after = evolve(before, event)
    live.follow(before, after, event)
    assert decide(after, event, live.board) == decide(after, event, board_of(after))
    assert "cpu-1" in live.board.nodes and live.board.nodes["cpu-1"].free == 2
