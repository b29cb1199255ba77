"""The waiting-reason and budget gauges are fed by the scheduling policy, not guessed from statuses."""

from __future__ import annotations

import pytest

from orchestrator.core import events as ev
from orchestrator.core.state import Policy
from orchestrator.scheduling.farm import FarmConfig, NodeClass
from tests.builders import SID, planned, pool, sequence, started, submitted
from tests.orchestrator.test_metrics import Farm

SEQ = {"show": "demo", "sequence": "sq010"}


def waiting(farm: Farm, reason: str) -> float | None:
    return farm.value("shotfarm_chunks_waiting", show="demo", reason=reason)


def test_a_budget_pause_shows_as_chunks_waiting_for_budget():
    farm = Farm(pool("cpu-0"), submitted(), planned())
    assert waiting(farm, "budget") == 0 and waiting(farm, "no_free_slot") == 3
    farm(ev.BudgetExceeded(at=3, sequence_id=SID, projected_usd=9, budget_usd=1))
    assert waiting(farm, "budget") == 3 and waiting(farm, "no_free_slot") == 0


def test_a_shot_no_node_can_run_shows_as_waiting_for_a_capable_node():
    config = FarmConfig(classes=(NodeClass(name="cpu", max_pixels=100), NodeClass(name="h100")))
    farm = Farm(pool("cpu-0"), submitted(), planned(), policy=Policy(farm=config))
    assert waiting(farm, "no_capable_node") == 3


def test_another_sequences_event_updates_this_ones_reasons():
    farm = Farm(pool("cpu-0"), submitted(), planned(), started("sh010.1001-1004"))
    other = submitted(sequence(priority=90))
    farm(other.model_copy(update={"sequence_id": "demo:sq020", "spec": dict(other.spec, sequence="sq020")}))
    farm(planned().model_copy(update={"sequence_id": "demo:sq020"}))
    assert waiting(farm, "priority") == 2  # sq010's two queued chunks now wait behind sq020
    assert waiting(farm, "no_free_slot") == 3


def test_the_budget_gauge_follows_the_sequences_own_budget():
    farm = Farm(pool("cpu-0"), submitted(sequence(budget_usd=2.0)), planned(sequence(budget_usd=2.0)))
    assert farm.value("shotfarm_budget_remaining_usd", **SEQ) == pytest.approx(2.0)
    farm.render("sh010.1001-1004", cost_usd=0.5)
    assert farm.value("shotfarm_budget_remaining_usd", **SEQ) == pytest.approx(1.5)


def test_every_reason_is_exported_at_zero_rather_than_missing():
    farm = Farm(pool("cpu-0"), submitted(), planned())
    for reason in ("no_free_slot", "priority", "share", "budget", "no_capable_node", "retry_backoff"):
        assert waiting(farm, reason) is not None
