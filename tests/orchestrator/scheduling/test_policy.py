"""The policy: which queued chunk goes to which free slot. Pure: a board and `now` in, a plan out."""

from __future__ import annotations

import pytest

from orchestrator.scheduling.farm import Subscription
from orchestrator.scheduling.policy import Overrun, plan
from orchestrator.scheduling.runtime import RuntimeModel
from tests.orchestrator.scheduling.boards import ENGINE, SPU, board, farm, gpu, lane, picks, snapshot


def test_chunks_sized_alike_go_in_timeline_order_to_the_emptiest_nodes():
    b = board(farm(), {"cpu": 2}, slots=2)
    lane(b, "seq", [10, 10, 10])
    assert picks(plan(b, 0)) == [("seq", "c0", "cpu-0"), ("seq", "c1", "cpu-1"), ("seq", "c2", "cpu-0")]


def test_a_chunk_much_longer_than_the_rest_goes_first_near_the_end_of_the_work():
    b = board(farm(), {"cpu": 2})
    lane(b, "seq", [10, 10, 10, 100])
    assert picks(plan(b, 0)) == [("seq", "c3", "cpu-0"), ("seq", "c0", "cpu-1")]


def test_a_longer_chunk_keeps_its_place_while_the_farm_has_far_more_work():
    b = board(farm(), {"cpu": 1})
    lane(b, "seq", [10] * 200 + [30])
    assert picks(plan(b, 0)) == [("seq", "c0", "cpu-0")]


def test_a_chunk_only_a_little_longer_keeps_timeline_order():
    b = board(farm(), {"cpu": 1})
    lane(b, "seq", [10, 12])
    assert picks(plan(b, 0)) == [("seq", "c0", "cpu-0")]


def test_the_fastest_class_is_filled_first():
    b = board(farm(gpu("slow", 0.2), gpu("fast", 1.0)), {"slow": 1, "fast": 1})
    lane(b, "seq", [10])
    assert picks(plan(b, 0)) == [("seq", "c0", "fast-0")]


def test_a_slow_class_takes_work_while_the_farm_is_busy_for_much_longer_than_the_chunk():
    b = board(farm(gpu("slow", 0.1), gpu("fast", 1.0)), {"slow": 1, "fast": 1})
    lane(b, "busy", [10])
    b.assign("busy", "c0", "fast-0")
    lane(b, "seq", [10] * 50)
    assert picks(plan(b, 0)) == [("seq", "c0", "slow-0")]


def test_a_slow_class_leaves_a_chunk_it_would_finish_long_after_the_farm_drains():
    b = board(farm(gpu("slow", 0.1), gpu("fast", 1.0)), {"slow": 1, "fast": 1})
    lane(b, "busy", [10])
    b.assign("busy", "c0", "fast-0")
    lane(b, "seq", [10])
    assert picks(plan(b, 0)) == []


def test_shows_take_turns_when_nobody_has_a_subscription():
    b = board(farm(), {"cpu": 4})
    lane(b, "a:1", [10] * 10, show="a")
    lane(b, "b:1", [10] * 10, show="b")
    assert [sid for sid, _, _ in picks(plan(b, 0))] == ["a:1", "b:1", "a:1", "b:1"]


def test_a_show_below_its_guarantee_is_served_first():
    subs = (Subscription(show="a", share=0.25), Subscription(show="b", share=0.75))
    b = board(farm(subscriptions=subs), {"cpu": 4})
    lane(b, "a:1", [10] * 10, show="a")
    lane(b, "b:1", [10] * 10, show="b")
    chosen = [sid for sid, _, _ in picks(plan(b, 0))]
    assert chosen.count("a:1") == 1 and chosen.count("b:1") == 3


def test_a_show_never_holds_more_than_its_burst_ceiling():
    b = board(farm(subscriptions=(Subscription(show="a", share=0.0, burst=0.5),)), {"cpu": 4})
    lane(b, "a:1", [10] * 10, show="a")
    assert len(plan(b, 0).assignments) == 2


def test_spare_capacity_goes_to_higher_priority_first():
    b = board(farm(), {"cpu": 1})
    lane(b, "a:1", [10] * 3, show="a", priority=50)
    lane(b, "b:1", [10] * 3, show="b", priority=80)
    assert picks(plan(b, 0)) == [("b:1", "c0", "cpu-0")]


def test_within_a_show_the_higher_priority_sequence_goes_first():
    b = board(farm(), {"cpu": 1})
    lane(b, "a:old", [10] * 3, show="a", priority=50)
    lane(b, "a:rush", [10] * 3, show="a", priority=90)
    assert picks(plan(b, 0)) == [("a:rush", "c0", "cpu-0")]


def test_a_guarantee_is_kept_against_another_shows_higher_priority():
    subs = (Subscription(show="a", share=0.5), Subscription(show="b", share=0.5))
    b = board(farm(subscriptions=subs), {"cpu": 2})
    lane(b, "a:1", [10] * 3, show="a", priority=10)
    lane(b, "b:1", [10] * 3, show="b", priority=90)
    assert sorted(sid for sid, _, _ in picks(plan(b, 0))) == ["a:1", "b:1"]


def test_work_only_some_classes_can_run_goes_first_on_them_when_it_would_outlast_the_farm():
    config = farm(gpu("big", 1.0), gpu("small", 1.0, max_pixels=100))
    b = board(config, {"big": 1, "small": 1})
    lane(b, "a:hd", [10, 10], show="a", pixels=100)
    lane(b, "b:uhd", [10] * 20, show="b", pixels=1000)
    assert sorted(picks(plan(b, 0))) == [("a:hd", "c0", "small-0"), ("b:uhd", "c0", "big-0")]


def test_work_no_class_can_run_is_not_dispatched():
    b = board(farm(gpu("small", max_pixels=100)), {"small": 2})
    lane(b, "uhd", [10], pixels=1000)
    assert plan(b, 0).assignments == ()


def test_a_node_is_skipped_for_a_sequence_it_failed_too_often_and_forgiven_later():
    config = farm(block_after=2, forgive_after=600)
    b = board(config, {"cpu": 2})
    lane(b, "seq", [10, 10])
    b.fail_on("seq", "cpu-0", 90.0)
    b.fail_on("seq", "cpu-0", 100.0)
    assert picks(plan(b, 150)) == [("seq", "c0", "cpu-1")]
    assert picks(plan(b, 700)) == [("seq", "c0", "cpu-0"), ("seq", "c1", "cpu-1")]


def test_a_blocked_node_takes_another_sequences_work():
    b = board(farm(block_after=1), {"cpu": 2})
    lane(b, "old", [10])
    lane(b, "new", [10])
    b.fail_on("old", "cpu-0", 0.0)
    assert picks(plan(b, 1)) == [("new", "c0", "cpu-0"), ("old", "c0", "cpu-1")]


def test_blocking_every_node_that_can_run_a_sequence_blocks_none():
    b = board(farm(block_after=1), {"cpu": 2})
    lane(b, "seq", [10, 10])
    b.fail_on("seq", "cpu-0", 0.0)
    b.fail_on("seq", "cpu-1", 0.0)
    assert len(plan(b, 1).assignments) == 2  # its retries run where they can; max_attempts decides


def test_one_failure_blocks_nothing_when_it_takes_two():
    b = board(farm(block_after=2), {"cpu": 1})
    lane(b, "seq", [10])
    b.fail_on("seq", "cpu-0", 0.0)
    assert picks(plan(b, 1)) == [("seq", "c0", "cpu-0")]


def measured(units: float = 10.0, seconds: float = 10.0) -> RuntimeModel:
    return RuntimeModel(prior=SPU).observe((ENGINE, 100, 1, 16), "cpu", 1.0, seconds, units)


@pytest.mark.parametrize(("budget", "paused"), [(15.0, True), (25.0, False)])
def test_a_sequence_projected_over_its_budget_is_paused(budget, paused):
    b = board(farm(), {"cpu": 2}, model=measured())  # $1 a second, 1 s a unit
    lane(b, "seq", [10, 10], budget=budget)
    p = plan(b, 0)
    assert (p.overruns == (Overrun("seq", pytest.approx(20.0), budget),)) is paused
    assert (p.assignments == ()) is paused


def test_what_was_spent_counts_toward_the_budget():
    b = board(farm(), {"cpu": 1}, model=measured())
    seq = lane(b, "seq", [10], budget=15.0)
    seq.spent = 6.0
    assert [o.projected_usd for o in plan(b, 0).overruns] == [pytest.approx(16.0)]


def test_nothing_is_projected_before_the_engine_was_measured():
    b = board(farm(), {"cpu": 1})
    lane(b, "seq", [10, 10], budget=1.0)
    assert plan(b, 0).overruns == () and len(plan(b, 0).assignments) == 1


def two_priorities(low_share: float | None = None):
    subs = (Subscription(show="low", share=low_share),) if low_share is not None else ()
    b = board(farm(subscriptions=subs), {"cpu": 1}, slots=2)
    lane(b, "low:1", [10, 10], show="low", priority=10)
    b.assign("low:1", "c0", "cpu-0")
    b.assign("low:1", "c1", "cpu-0")
    return b


def test_a_chunk_waiting_at_its_node_is_taken_back_for_higher_priority_work():
    b = two_priorities()
    lane(b, "high:1", [10], show="high", priority=90)
    p = plan(b, 0)
    assert [(x.sequence_id, x.chunk_id, x.node_id, x.for_sequence) for x in p.preemptions] == [
        ("low:1", "c1", "cpu-0", "high:1")
    ]


def test_the_chunk_a_node_is_rendering_is_never_taken_back():
    b = two_priorities()
    lane(b, "high:1", [10, 10, 10], show="high", priority=90)
    assert [x.chunk_id for x in plan(b, 0).preemptions] == ["c1"]


def test_equal_priority_takes_nothing_back():
    b = two_priorities()
    lane(b, "other:1", [10], show="other", priority=10)
    assert plan(b, 0).preemptions == ()


def test_a_guaranteed_share_protects_waiting_work_from_preemption():
    b = two_priorities(low_share=1.0)
    lane(b, "high:1", [10], show="high", priority=90)
    assert plan(b, 0).preemptions == ()


def scenarios():
    yield "timeline", two_priorities()
    b = board(farm(gpu("slow", 0.1), gpu("fast", 1.0)), {"slow": 2, "fast": 2}, slots=2)
    lane(b, "a:1", [10] * 5 + [100], show="a")
    lane(b, "b:1", [10] * 30, show="b", priority=70)
    yield "mixed", b
    b = board(farm(), {"cpu": 2}, model=measured())
    lane(b, "seq", [10, 10], budget=5.0)
    lane(b, "other", [10, 10])
    b.fail_on("other", "cpu-1", 0.0)
    yield "budget and blocks", b
    b = two_priorities()
    lane(b, "high:1", [10, 10], show="high", priority=90)
    yield "preemption", b


@pytest.mark.parametrize("name", ["timeline", "mixed", "budget and blocks", "preemption"])
def test_a_plan_leaves_the_board_as_it_found_it_and_is_the_same_when_asked_again(name):
    b = dict(scenarios())[name]
    before = snapshot(b)
    first = plan(b, 5.0)
    assert snapshot(b) == before
    assert plan(b, 5.0) == first


def test_applying_a_plan_then_planning_again_assigns_nothing_twice():
    b = board(farm(), {"cpu": 3})
    lane(b, "seq", [10] * 5)
    for a in plan(b, 0).assignments:
        b.assign(a.sequence_id, a.chunk_id, a.node_id)
    assert plan(b, 0).assignments == ()
    b.rendered("seq", "c0")
    assert picks(plan(b, 1)) == [("seq", "c3", "cpu-0")]
