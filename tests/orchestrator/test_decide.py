"""decide: what the farm does next. Pure: state and event in, commands out."""

from __future__ import annotations

import pytest

from orchestrator.core import events as ev
from orchestrator.core.commands import CheckCut, Deliver, Dispatch, Fail, Finish, Plan, RetryLater, StitchSegment
from orchestrator.core.decide import backoff, decide
from orchestrator.core.evolve import evolve
from orchestrator.core.state import Policy
from tests.builders import SID, checked, failed, farm, planned, pool, rendered, sequence, shot, started, submitted

FIRST = "sh010.1001-1004"


def step(state, event):
    state = evolve(state, event)
    return state, decide(state, event)


def test_a_submitted_sequence_is_planned():
    state, commands = step(farm(pool()), submitted())
    assert commands == [Plan(SID)]


def test_planning_fills_free_slots_in_timeline_order_spreading_across_nodes():
    state = farm(pool("cpu-0", "cpu-1", slots=2), submitted())
    _, commands = step(state, planned())
    assert commands == [
        Dispatch(SID, "sh010.1001-1004", "cpu-0", 1),
        Dispatch(SID, "sh010.1005-1008", "cpu-1", 1),
        Dispatch(SID, "sh020.1009-1012", "cpu-0", 1),
    ]


def test_nothing_is_dispatched_beyond_each_nodes_slots():
    state = farm(pool("cpu-0", slots=1), submitted())
    _, commands = step(state, planned())
    assert commands == [Dispatch(SID, FIRST, "cpu-0", 1)]


def test_a_freed_slot_takes_the_next_queued_chunk():
    state = farm(pool("cpu-0", slots=1), submitted(), planned(), started(FIRST))
    _, commands = step(state, rendered(state, FIRST))
    assert commands == [Dispatch(SID, "sh010.1005-1008", "cpu-0", 1)]


def test_the_chunk_that_completes_a_cuts_boundary_frames_asks_for_its_check_once():
    state = farm(pool("cpu-0", slots=3), submitted(), planned())
    asked = []
    for cid in state.sequences[SID].chunks:
        state = evolve(state, started(cid))
    for cid in ["sh020.1009-1012", "sh010.1001-1004", "sh010.1005-1008"]:
        state, commands = step(state, rendered(state, cid))
        asked.append([c for c in commands if isinstance(c, CheckCut | StitchSegment)])
    assert asked == [[], [], [CheckCut(SID, "sh010>sh020")]]


def test_segments_wait_for_the_verdict_on_every_cut_their_shots_touch():
    state = all_rendered(farm(pool("cpu-0", slots=3), submitted(), planned()))
    _, commands = step(state, checked(state, "sh010>sh020"))
    assert commands == [StitchSegment(SID, "sh010"), StitchSegment(SID, "sh020")]


def test_a_gap_segment_is_stitched_as_soon_as_the_sequence_is_planned():
    seq = sequence(shot("sh010", 1001, 1004), shot("sh020", 1007, 1010))
    state = farm(pool(), submitted(seq))
    _, commands = step(state, planned(seq))
    assert commands[0] == StitchSegment(SID, "gap.1005-1006")


def all_rendered(state, check=False):
    for cid in list(state.sequences[SID].chunks):
        state = evolve(state, started(cid))
        state = evolve(state, rendered(state, cid))
    if check:
        for cut in list(state.sequences[SID].cuts):
            state = evolve(state, checked(state, cut))
    return state


def segment(state, name, fingerprint=None):
    seq = state.sequences[SID]
    plan = next(s for s in seq.segment_plan if s.name == name)
    return ev.SegmentStitched(
        at=8, sequence_id=SID, segment=name, fingerprint=fingerprint or seq.fingerprint(plan), frames=()
    )


def test_the_segment_that_completes_the_master_asks_for_the_deliverables():
    state = all_rendered(farm(pool("cpu-0", slots=3), submitted(), planned()), check=True)
    state, first = step(state, segment(state, "sh010"))
    _, last = step(state, segment(state, "sh020"))
    assert first == [] and last == [Deliver(SID)]


def test_a_segment_built_from_an_outdated_fingerprint_is_not_counted():
    state = all_rendered(farm(pool("cpu-0", slots=3), submitted(), planned()))
    state = evolve(state, segment(state, "sh010"))
    stale, commands = step(state, segment(state, "sh020", fingerprint="0" * 16))
    assert "sh020" not in stale.sequences[SID].segments and commands == []


def test_an_invalidated_chunk_is_rendered_again_and_the_sequence_goes_back_to_rendering():
    state = all_rendered(farm(pool("cpu-0", slots=3), submitted(), planned()))
    assert state.sequences[SID].status.value == "stitching"
    state, commands = step(state, ev.ChunkInvalidated(at=9, sequence_id=SID, chunk_id=FIRST, reason="digest"))
    assert state.sequences[SID].status.value == "rendering"
    assert commands == [Dispatch(SID, FIRST, "cpu-0", 2)]


def test_a_stitched_master_finishes_the_sequence():
    state = all_rendered(farm(pool("cpu-0", slots=3), submitted(), planned()), check=True)
    for name in ("sh010", "sh020"):
        state = evolve(state, segment(state, name))
    stitched = ev.MasterStitched(
        at=9, sequence_id=SID, frames=(), contact_sheet=ev.FrameRecord(frame=0, key="k", digest="d"),
        range={"first": 1001, "last": 1012},
    )
    _, commands = step(state, stitched)
    assert commands == [Finish(SID)]


def test_a_retryable_failure_retries_later_with_exponential_backoff():
    policy = Policy(backoff_base=2.0, backoff_max=60.0)
    state = farm(pool(), submitted(), planned(), started(FIRST), policy=policy)
    _, commands = step(state, failed(FIRST))
    assert RetryLater(SID, FIRST, 2.0) in commands
    assert [backoff(state, a) for a in (1, 2, 3, 7, 20)] == [2.0, 4.0, 8.0, 60.0, 60.0]


def test_a_permanent_failure_fails_the_sequence_with_the_reason():
    state = farm(pool(), submitted(), planned(), started(FIRST))
    _, commands = step(state, failed(FIRST, retryable=False))
    assert commands[0] == Fail(SID, f"chunk {FIRST} failed after a permanent error: boom")


def test_running_out_of_attempts_fails_the_sequence():
    state = farm(pool(), submitted(), planned(), policy=Policy(max_attempts=1))
    state = evolve(state, started(FIRST))
    _, commands = step(state, failed(FIRST))
    assert isinstance(commands[0], Fail) and "1 attempts" in commands[0].reason


def test_a_stale_failure_from_a_superseded_attempt_asks_for_nothing_new():
    state = farm(pool(), submitted(), planned(), started(FIRST), failed(FIRST))
    state = evolve(state, ev.ChunkQueued(at=4, sequence_id=SID, chunk_id=FIRST, reason="retry"))
    state = evolve(state, started(FIRST, attempt=2))
    _, commands = step(state, failed(FIRST, attempt=1))
    assert not [c for c in commands if isinstance(c, RetryLater | Fail)]


@pytest.mark.parametrize("stage", ["submitted", "rendering", "stitching"])
def test_a_restart_picks_up_each_stage_where_the_log_left_it(stage):
    events = [pool("old"), submitted()]
    if stage != "submitted":
        events.append(planned())
    state = farm(*events)
    if stage == "stitching":
        for cid in list(state.sequences[SID].chunks):
            state = evolve(state, started(cid, node="old"))
            state = evolve(state, rendered(state, cid, node="old"))
    elif stage == "rendering":
        state = evolve(state, started(FIRST, node="old"))
    _, commands = step(state, pool("new"))
    expected = {
        "submitted": [Plan(SID)],
        "rendering": [Dispatch(SID, FIRST, "new", 2)],
        "stitching": [CheckCut(SID, "sh010>sh020")],
    }
    assert commands == expected[stage]
