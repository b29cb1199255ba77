"""Why each queued chunk waits: every reason the policy can give, and only when it holds."""

from __future__ import annotations

from orchestrator.scheduling.farm import Subscription
from orchestrator.scheduling.waiting import WaitReason, _usable_classes, chunk_reason, explain
from tests.orchestrator.scheduling.boards import board, farm, gpu, lane


def busy(b, *nodes):
    """Fill the nodes with one chunk each of a show nobody waits on."""
    lane(b, "filler", [10] * len(nodes), show="filler", priority=0)
    for i, node in enumerate(nodes):
        b.assign("filler", f"c{i}", node)


def reasons(b, now=0.0) -> dict:
    return {sid: dict(counts) for sid, counts in explain(b, now).items() if counts}


def test_next_in_line_waits_for_a_free_slot():
    b = board(farm(), {"cpu": 1})
    busy(b, "cpu-0")
    lane(b, "seq", [10, 10])
    assert reasons(b)["seq"] == {WaitReason.NO_FREE_SLOT: 2}


def test_a_younger_sequence_of_the_same_show_waits_its_turn_not_for_share():
    b = board(farm(), {"cpu": 1})
    busy(b, "cpu-0")
    lane(b, "show:1", [10])
    lane(b, "show:2", [10])
    assert reasons(b)["show:2"] == {WaitReason.NO_FREE_SLOT: 1}


def test_lower_priority_work_waits_for_priority():
    b = board(farm(), {"cpu": 1})
    busy(b, "cpu-0")
    lane(b, "a:1", [10], show="a", priority=10)
    lane(b, "b:1", [10], show="b", priority=90)
    assert reasons(b)["a:1"] == {WaitReason.PRIORITY: 1}
    assert reasons(b)["b:1"] == {WaitReason.NO_FREE_SLOT: 1}


def test_a_show_further_above_its_share_waits_for_share():
    subs = (Subscription(show="a", share=0.5), Subscription(show="b", share=0.5))
    b = board(farm(subscriptions=subs), {"cpu": 2})
    lane(b, "a:1", [10, 10, 10], show="a")
    lane(b, "b:1", [10, 10, 10], show="b")
    b.assign("a:1", "c0", "cpu-0")
    b.assign("a:1", "c1", "cpu-1")
    assert reasons(b)["a:1"] == {WaitReason.SHARE: 1}
    assert reasons(b)["b:1"] == {WaitReason.NO_FREE_SLOT: 3}


def test_a_show_at_its_burst_ceiling_waits_for_share_even_with_free_slots():
    b = board(farm(subscriptions=(Subscription(show="a", share=0.0, burst=0.5),)), {"cpu": 2})
    lane(b, "a:1", [10, 10], show="a")
    b.assign("a:1", "c0", "cpu-0")
    assert reasons(b)["a:1"] == {WaitReason.SHARE: 1}


def test_a_paused_sequence_waits_for_budget():
    b = board(farm(), {"cpu": 1})
    lane(b, "seq", [10, 10]).paused = True
    assert reasons(b)["seq"] == {WaitReason.BUDGET: 2}


def test_a_shot_no_class_in_the_pool_can_run_waits_for_a_capable_node():
    b = board(farm(gpu("small", max_pixels=100), gpu("big")), {"small": 2})
    lane(b, "uhd", [10], pixels=1000)
    assert reasons(b)["uhd"] == {WaitReason.NO_CAPABLE_NODE: 1}


def test_a_class_whose_every_node_is_blocked_is_not_where_the_sequence_waits():
    b = board(farm(gpu("big"), gpu("small"), block_after=1, forgive_after=60), {"big": 1, "small": 1})
    lane(b, "seq", [10])
    b.fail_on("seq", "big-0", 0.0)
    assert _usable_classes(b, b.lanes["seq"], 1) == ["small"]
    assert _usable_classes(b, b.lanes["seq"], 61) == ["big", "small"]


def test_blocks_covering_every_capable_node_do_not_leave_a_sequence_stuck():
    b = board(farm(block_after=1), {"cpu": 2})
    lane(b, "seq", [10])
    b.fail_on("seq", "cpu-0", 0.0)
    b.fail_on("seq", "cpu-1", 0.0)
    assert reasons(b, 1)["seq"] == {WaitReason.NO_FREE_SLOT: 1}


def test_a_failed_chunk_waits_out_its_backoff_beside_the_lanes_reason():
    b = board(farm(), {"cpu": 1})
    lane(b, "seq", [10, 10])
    b.assign("seq", "c0", "cpu-0")
    b.failed("seq", "c0", retry=True)
    assert reasons(b)["seq"] == {WaitReason.BACKOFF: 1, WaitReason.NO_FREE_SLOT: 1}
    b.retry("seq", "c0")
    assert reasons(b)["seq"] == {WaitReason.NO_FREE_SLOT: 2}


def test_each_chunk_can_say_why_it_waits_and_a_held_one_is_not_waiting():
    b = board(farm(), {"cpu": 1})
    lane(b, "seq", [10, 10, 10])
    b.assign("seq", "c0", "cpu-0")
    assert chunk_reason(b, "seq", "c0", 0) is None
    b.failed("seq", "c0", retry=True)
    assert chunk_reason(b, "seq", "c0", 0) is WaitReason.BACKOFF
    assert chunk_reason(b, "seq", "c2", 0) is WaitReason.NO_FREE_SLOT
    assert chunk_reason(b, "nope", "c0", 0) is None and chunk_reason(b, "seq", "zz", 0) is None


def test_the_reasons_are_the_metric_label_values_people_read():
    assert {r.value for r in WaitReason} == {
        "no_free_slot", "priority", "share", "budget", "no_capable_node", "retry_backoff", "neighbour_frame",
    }  # fmt: skip
