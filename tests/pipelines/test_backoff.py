"""The farm's one retry wait: doubling from the first delay, never past the cap."""

from __future__ import annotations

import pytest

from orchestrator.core.decide import backoff
from orchestrator.core.state import FarmState, Policy
from pipelines.backoff import Backoff


@pytest.mark.parametrize("attempt, wait", [(1, 0.25), (2, 0.5), (3, 1.0), (4, 2.0), (5, 4.0), (6, 4.0), (40, 4.0)])
def test_waits_double_from_the_first_delay_up_to_the_cap(attempt, wait):
    assert Backoff(first=0.25, most=4.0).delay(attempt) == wait


def test_the_farms_retries_wait_by_the_same_rule_with_the_policys_bounds():
    state = FarmState(policy=Policy(backoff_base=2.0, backoff_max=60.0))
    assert [backoff(state, n) for n in range(1, 8)] == [Backoff(2.0, 60.0).delay(n) for n in range(1, 8)]
    assert backoff(state, 7) == 60.0
