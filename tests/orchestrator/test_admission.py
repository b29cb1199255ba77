"""What the farm records for a request or an outcome, or why it refuses (core.admission): pure, no Ray."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from orchestrator.core import admission
from orchestrator.core import events as ev
from orchestrator.core.admission import BadRequest, SpecConflict
from orchestrator.core.commands import ApplyFix
from orchestrator.core.isolation import fold
from orchestrator.core.state import FarmState, Policy
from orchestrator.scheduling.farm import FarmConfig, NodeClass
from pipelines.color.cdl import CDL
from pipelines.continuity.findings import Grade, Requeue
from tests.builders import SID, farm, planned, pool, sequence, submitted


def test_a_new_sequence_is_recorded_as_submitted_with_its_digest():
    seq = sequence()
    [event] = admission.submission(FarmState(), seq, now=1.0)
    assert isinstance(event, ev.SequenceSubmitted)
    assert (event.sequence_id, event.spec_digest) == (SID, admission.spec_digest(seq))


def test_the_same_spec_again_records_nothing_and_a_new_priority_is_a_scheduling_change():
    seq = sequence()
    state = farm(pool(), admission.submission(FarmState(), seq, now=1.0)[0])
    assert admission.submission(state, seq, now=2.0) == []
    [changed] = admission.submission(state, sequence(priority=90, budget_usd=5), now=2.0)
    assert isinstance(changed, ev.SchedulingChanged) and (changed.priority, changed.budget_usd) == (90, 5)


def test_a_changed_spec_under_the_same_id_is_refused():
    state = farm(pool(), admission.submission(FarmState(), sequence(), now=1.0)[0])
    with pytest.raises(SpecConflict, match="different spec"):
        admission.submission(state, sequence(samples=8), now=2.0)


def test_a_shot_no_node_class_can_run_is_refused():
    small = FarmConfig(classes=(NodeClass(name="a10g", max_pixels=100),))
    with pytest.raises(BadRequest, match="no node class can run shot sh010"):
        admission.submission(FarmState(policy=Policy(farm=small)), sequence(), now=1.0)


def test_a_set_aside_id_is_refused_until_it_is_retired():
    bad = ev.Unreadable(sequence_id=SID, record_type="SequenceSubmitted", reason="damaged")
    state = fold(FarmState(), 1, bad)
    with pytest.raises(BadRequest, match="set aside"):
        admission.submission(state, sequence(), now=1.0)
    with pytest.raises(BadRequest, match="set aside"):
        admission.cancellation(state, SID, "x", now=1.0)
    with pytest.raises(BadRequest, match="set aside"):
        admission.rerender(state, SID, "sh010")


def test_a_plan_is_every_shot_at_version_1_in_chunks():
    state = farm(pool(), submitted())
    planned_ = admission.plan(state, SID, chunk_frames=4, now=1.0)
    assert planned_.versions == {"sh010": 1, "sh020": 1}
    assert [c.chunk_id for c in planned_.chunks] == ["sh010.1001-1004", "sh010.1005-1008", "sh020.1009-1012"]


def test_a_requeue_bumps_the_shots_version_patches_its_spec_and_plans_only_that_shot():
    state = farm(pool(), submitted(), planned())
    patch = {"camera": {"keys": [{"frame": 0, "position": [0, 2, 6], "look_at": [0, 1, 0], "fov": 35}]}}
    event = admission.requeue(state, SID, "sh020", patch, "sh010>sh020", chunk_frames=4, now=1.0)
    assert (event.shot, event.version, event.cut) == ("sh020", 2, "sh010>sh020")
    assert event.shot_spec["camera"]["keys"][0]["position"] == [0.0, 2.0, 6.0]
    assert {c.shot for c in event.chunks} == {"sh020"}


@pytest.mark.parametrize(
    "shot_name, message", [("sh999", "has no such shot"), ("sh010", None)], ids=["unknown shot", "known shot"]
)
def test_a_rerender_is_refused_for_a_shot_the_sequence_does_not_have(shot_name, message):
    state = farm(pool(), submitted(), planned())
    if message:
        with pytest.raises(BadRequest, match=message):
            admission.rerender(state, SID, shot_name)
    else:
        assert admission.rerender(state, SID, shot_name).sequence_id == SID
    with pytest.raises(BadRequest, match="no sequence"):
        admission.rerender(state, "demo:nope", shot_name)


def test_a_finished_sequence_cannot_be_cancelled_again():
    state = farm(pool(), submitted(), ev.SequenceCancelled(at=1.0, sequence_id=SID))
    with pytest.raises(BadRequest, match="already cancelled"):
        admission.cancellation(state, SID, "x", now=2.0)
    assert admission.cancellation(farm(pool(), submitted()), SID, "why", now=2.0).reason == "why"



def checked_cut() -> FarmState:
    """A cut in its first fix round (a check found something fixable)."""
    state = farm(pool(), submitted(), planned())
    seq = state.sequences[SID]
    cut = replace(seq.cuts["sh010>sh020"], attempts=1)
    seq = replace(seq, cuts=MappingProxyType({**seq.cuts, cut.name: cut}))
    return replace(state, sequences=MappingProxyType({SID: seq}))


def test_a_grade_fix_is_proposed_then_applied_at_once():
    state = checked_cut()
    fix = Grade(shot="sh020", cdl=CDL(slope=(1.1, 1.0, 0.9)))
    proposed, applied, requeue = admission.fix(state, ApplyFix(SID, "sh010>sh020", "white_balance", fix), now=1.0)
    assert (proposed.rule, proposed.fix, proposed.attempt) == ("white_balance", fix, 1)
    assert applied is not None and applied.grade == fix.cdl and requeue is None


def test_a_requeue_fix_is_proposed_and_left_to_plan():
    state = checked_cut()
    fix = Requeue(shot="sh020", patch={"lights": []})
    proposed, applied, requeue = admission.fix(state, ApplyFix(SID, "sh010>sh020", "lighting", fix), now=1.0)
    assert applied is None and requeue == fix


def rendering():
    seq = sequence()
    state = farm(pool(), submitted(seq), planned(seq))
    return state


def test_a_bad_source_frame_renders_its_chunk_again_while_attempts_are_left():
    state = rendering()
    event = admission.master_failure(state, SID, "segment sh010", "boom", ("sh010", 1002, "frame 1002 bad"), now=1.0)
    assert isinstance(event, ev.ChunkInvalidated) and event.chunk_id == "sh010.1001-1004" and event.reason == "frame 1002 bad"


def test_a_master_failure_without_a_bad_frame_fails_a_rendering_sequence():
    event = admission.master_failure(rendering(), SID, "deliverables", "disk full", None, now=1.0)
    assert isinstance(event, ev.SequenceFailed) and event.reason == "deliverables: disk full"


def test_a_master_failure_of_a_finished_or_retired_sequence_records_nothing():
    done = farm(pool(), submitted(), ev.SequenceCancelled(at=1.0, sequence_id=SID))
    assert admission.master_failure(done, SID, "deliverables", "x", None, now=2.0) is None
    assert admission.master_failure(FarmState(), SID, "deliverables", "x", None, now=2.0) is None
