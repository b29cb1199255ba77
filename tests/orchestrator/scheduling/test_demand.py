"""What cluster mode scales worker groups to: the chunks that want each node class."""

from __future__ import annotations

from orchestrator.core import events as ev
from orchestrator.core.demand import demand_by_class
from orchestrator.core.evolve import evolve
from orchestrator.core.state import Policy
from orchestrator.scheduling.farm import FarmConfig, NodeClass
from tests.builders import SID, farm, planned, rendered, started, submitted

FIRST, SECOND, THIRD = "sh010.1001-1004", "sh010.1005-1008", "sh020.1009-1012"
SLOW, FAST = NodeClass(name="l40s", speed=0.6), NodeClass(name="h100", speed=1.0)


def pool(*nodes: tuple[str, str]) -> ev.PoolStarted:
    infos = tuple(ev.NodeInfo(node_id=n, gpu_class=c, slots=1) for n, c in nodes)
    return ev.PoolStarted(at=0.5, sequence_id=ev.FARM, nodes=infos)


def state_of(*events, classes=(SLOW, FAST)):
    return farm(*events, policy=Policy(farm=FarmConfig(classes=classes)))


def test_queued_chunks_want_the_fastest_class_that_can_run_them():
    assert demand_by_class(state_of(submitted(), planned())) == {"h100": 3}


def test_a_chunk_at_a_node_wants_that_nodes_class_and_a_rendered_one_wants_nothing():
    state = state_of(pool(("l40s-0", "l40s")), submitted(), planned(), started(FIRST, node="l40s-0"))
    assert demand_by_class(state) == {"l40s": 1, "h100": 2}
    state = evolve(state, rendered(state, FIRST, node="l40s-0"))
    assert demand_by_class(state) == {"h100": 2}


def test_a_class_that_cannot_hold_the_frame_is_not_wanted():
    small = FAST.model_copy(update={"max_pixels": 100})
    assert demand_by_class(state_of(submitted(), planned(), classes=(SLOW, small))) == {"l40s": 3}
    nothing = SLOW.model_copy(update={"max_pixels": 100})
    assert demand_by_class(state_of(submitted(), planned(), classes=(nothing, small))) == {}


def test_a_sequence_paused_by_its_budget_wants_only_what_it_has_at_nodes():
    over = ev.BudgetExceeded(at=2, sequence_id=SID, projected_usd=12.0, budget_usd=10.0)
    state = state_of(pool(("h100-0", "h100")), submitted(), planned(), started(FIRST, node="h100-0"), over)
    assert demand_by_class(state) == {"h100": 1}


def test_a_cancelled_sequence_wants_nothing():
    cancelled = ev.SequenceCancelled(at=2, sequence_id=SID)
    assert demand_by_class(state_of(submitted(), planned(), cancelled)) == {}

