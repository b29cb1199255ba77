"""The board keeps the books the policy reads; these are its invariants."""

from __future__ import annotations

from tests.orchestrator.scheduling.boards import board, farm, lane, snapshot


def test_unassign_undoes_assign_exactly():
    b = board(farm(), {"cpu": 2}, slots=2)
    lane(b, "seq", [10, 20, 30])
    before = snapshot(b)
    b.assign("seq", "c1", "cpu-1")
    b.assign("seq", "c2", "cpu-1")
    b.unassign("seq", "c2")
    b.unassign("seq", "c1")
    assert snapshot(b) == before


def test_a_chunk_behind_another_at_its_node_is_waiting_there_until_the_first_is_done():
    b = board(farm(), {"cpu": 1}, slots=2)
    lane(b, "seq", [10, 10])
    b.assign("seq", "c0", "cpu-0")
    b.assign("seq", "c1", "cpu-0")
    assert b.waiting_at_node(("seq", "c0", 1)) is None
    assert b.waiting_at_node(("seq", "c1", 1)) is not None
    b.rendered("seq", "c0")
    assert b.waiting_at_node(("seq", "c1", 1)) is None


def test_a_preempted_chunk_queues_again_with_its_attempt_unspent_and_unpreempt_puts_it_back():
    b = board(farm(), {"cpu": 1}, slots=3)
    lane(b, "seq", [10, 10, 10])
    for cid in ("c0", "c1", "c2"):
        b.assign("seq", cid, "cpu-0")
    before = snapshot(b)
    b.preempt("seq", "c1")
    assert b.lanes["seq"].queued["c1"].attempt == 1 and b.nodes["cpu-0"].held == [("seq", "c0", 1), ("seq", "c2", 1)]
    b.unpreempt("seq", "c1", "cpu-0", 1)
    assert snapshot(b) == before


def test_units_left_count_what_still_has_to_render():
    b = board(farm(), {"cpu": 1})
    seq = lane(b, "seq", [10, 20])
    b.assign("seq", "c0", "cpu-0")
    b.failed("seq", "c0", retry=True)
    assert seq.units_left == {16: 30}
    b.retry("seq", "c0")
    b.assign("seq", "c0", "cpu-0")
    b.rendered("seq", "c0", cost_usd=2.5)
    assert seq.units_left == {16: 20} and seq.spent == 2.5
    b.assign("seq", "c1", "cpu-0")
    b.failed("seq", "c1", retry=False)
    assert seq.units_left == {16: 0}


def test_the_emptiest_node_of_a_class_is_offered_first_ties_by_name():
    b = board(farm(), {"cpu": 3}, slots=2)
    lane(b, "seq", [10] * 3)
    b.assign("seq", "c0", "cpu-0")
    assert b.best_free("cpu").node_id == "cpu-1"
    assert b.best_free("cpu", skip={"cpu-1"}).node_id == "cpu-2"
