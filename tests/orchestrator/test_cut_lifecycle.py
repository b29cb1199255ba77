"""Cuts in the pure core: checked as soon as their frames exist, fixed, re-checked, settled."""

from __future__ import annotations

import pytest

from orchestrator.core import events as ev
from orchestrator.core.commands import ApplyFix, CheckCut, Deliver, Dispatch, StitchSegment
from orchestrator.core.decide import decide
from orchestrator.core.evolve import evolve
from orchestrator.core.state import Policy
from orchestrator.core.status import ChunkStatus, CutStatus, IllegalTransition, SequenceStatus
from pipelines.chunking import plan_chunks
from pipelines.color.cdl import CDL
from pipelines.continuity.findings import Finding, Grade, Requeue, Review, Severity
from tests.builders import SID, checked, farm, planned, pool, rendered, started, submitted

CUT = "sh010>sh020"
GRADE = Grade(shot="sh020", cdl=CDL(slope=(0.5, 0.5, 0.5)))
PATCH = {"camera": {"keys": [{"frame": 0, "position": [0, 1.2, -6], "look_at": [0, 1, 0], "fov": 35}]}}
REQUEUE = Requeue(shot="sh020", patch=PATCH)


def finding(rule: str, fix, severity: Severity = Severity.ERROR) -> Finding:
    return Finding(
        rule=rule, cut=CUT, left="sh010", right="sh020", measured={"x": 1.0}, threshold=0.5,
        severity=severity, explanation="sh020 does not match sh010", fix=fix,
    )


def step(state, event):
    state = evolve(state, event)
    return state, decide(state, event)


def rendered_farm(policy: Policy | None = None):
    state = farm(pool("cpu-0", slots=3), submitted(), planned(), policy=policy)
    for cid in list(state.sequences[SID].chunks):
        state = evolve(state, started(cid))
        state = evolve(state, rendered(state, cid))
    return state


def test_every_pair_of_adjacent_shots_is_a_cut_pending_a_check():
    cuts = farm(submitted()).sequences[SID].cuts
    assert list(cuts) == [CUT] and cuts[CUT].status is CutStatus.PENDING


def test_a_clean_check_settles_the_cut_as_ok():
    state = rendered_farm()
    state, _ = step(state, checked(state, CUT))
    assert state.sequences[SID].cuts[CUT].status is CutStatus.OK


def test_info_findings_alone_do_not_hold_a_cut():
    state = rendered_farm()
    state, _ = step(state, checked(state, CUT, (finding("exposure", None, Severity.INFO),)))
    assert state.sequences[SID].cuts[CUT].status is CutStatus.OK


def test_a_grade_fix_is_applied_then_the_cut_is_checked_again():
    state = rendered_farm()
    state, commands = step(state, checked(state, CUT, (finding("exposure", GRADE),)))
    assert state.sequences[SID].cuts[CUT].status is CutStatus.FIXING
    assert commands == [ApplyFix(SID, CUT, "exposure", GRADE)]
    state = evolve(state, ev.FixProposed(at=6, sequence_id=SID, cut=CUT, rule="exposure", fix=GRADE, attempt=1))
    state, commands = step(state, ev.FixApplied(at=6, sequence_id=SID, cut=CUT, shot="sh020", grade=GRADE.cdl))
    assert state.sequences[SID].spec.shot("sh020").grade == GRADE.cdl
    assert commands == [CheckCut(SID, CUT)]
    state, commands = step(state, checked(state, CUT))
    assert state.sequences[SID].cuts[CUT].status is CutStatus.FIXED
    assert StitchSegment(SID, "sh020") in commands


def test_a_grade_fix_changes_the_segments_it_feeds():
    state = rendered_farm()
    seq = state.sequences[SID]
    before = seq.fingerprint(seq.segment_plan[1])
    state = evolve(state, checked(state, CUT, (finding("exposure", GRADE),)))
    state = evolve(state, ev.FixApplied(at=6, sequence_id=SID, cut=CUT, shot="sh020", grade=GRADE.cdl))
    seq = state.sequences[SID]
    assert seq.fingerprint(seq.segment_plan[1]) != before
    assert seq.fingerprint(seq.segment_plan[0]) == farm_fingerprint_of_first_segment()


def farm_fingerprint_of_first_segment():
    seq = rendered_farm().sequences[SID]
    return seq.fingerprint(seq.segment_plan[0])


def requeued(state, version=2):
    seq = state.sequences[SID]
    shot = seq.spec.shot("sh020")
    patched = shot.model_dump(mode="json") | PATCH
    chunks = tuple(c for c in plan_chunks(seq.spec, 4) if c.shot == "sh020")
    return ev.ShotRequeued(
        at=7, sequence_id=SID, cut=CUT, shot="sh020", patch=PATCH, version=version, shot_spec=patched, chunks=chunks
    )


def test_a_requeue_renders_the_shot_again_as_a_new_version_with_the_patch():
    state = rendered_farm()
    state, commands = step(state, checked(state, CUT, (finding("axis_180", REQUEUE),)))
    assert commands == [ApplyFix(SID, CUT, "axis_180", REQUEUE)]
    state, commands = step(state, requeued(state))
    seq = state.sequences[SID]
    assert seq.versions["sh020"] == 2 and seq.status is SequenceStatus.RENDERING
    assert seq.spec.shot("sh020").camera.keys[0].position == (0, 1.2, -6)
    chunk = seq.chunks["sh020.1009-1012"]
    assert (chunk.status, chunk.version, chunk.attempt) == (ChunkStatus.QUEUED, 2, 1)
    assert commands == [Dispatch(SID, "sh020.1009-1012", "cpu-0", 2)]


def test_the_re_rendered_shot_is_checked_again_when_its_boundary_frame_exists():
    state = rendered_farm()
    state = evolve(state, checked(state, CUT, (finding("axis_180", REQUEUE),)))
    state = evolve(state, requeued(state))
    state = evolve(state, started("sh020.1009-1012", attempt=2))
    state, commands = step(state, rendered(state, "sh020.1009-1012", attempt=2))
    assert CheckCut(SID, CUT) in commands


def test_a_requeue_must_bump_the_version_by_one():
    state = rendered_farm()
    with pytest.raises(IllegalTransition, match="version 3 follows version 1"):
        evolve(state, requeued(state, version=3))


def test_after_max_fix_attempts_the_remaining_findings_go_to_review():
    state = rendered_farm(Policy(max_fix_attempts=1))
    state = evolve(state, checked(state, CUT, (finding("exposure", GRADE),)))
    state = evolve(state, ev.FixApplied(at=6, sequence_id=SID, cut=CUT, shot="sh020", grade=GRADE.cdl))
    state, commands = step(state, checked(state, CUT, (finding("exposure", GRADE),)))
    cut = state.sequences[SID].cuts[CUT]
    assert (cut.status, cut.attempts) == (CutStatus.REVIEW, 1)
    assert not [c for c in commands if isinstance(c, ApplyFix)]
    assert StitchSegment(SID, "sh010") in commands


def test_a_review_only_finding_goes_straight_to_review():
    state = rendered_farm()
    state, commands = step(state, checked(state, CUT, (finding("tags", Review(reason="wardrobe")),)))
    assert state.sequences[SID].cuts[CUT].status is CutStatus.REVIEW


def test_a_check_of_shots_that_have_since_changed_is_ignored():
    state = rendered_farm()
    stale = checked(state, CUT, (finding("exposure", GRADE),))
    state = evolve(state, ev.FixApplied(at=6, sequence_id=SID, cut=CUT, shot="sh020", grade=GRADE.cdl))
    after, commands = step(state, stale)
    assert after.sequences[SID].cuts[CUT].status is CutStatus.PENDING and commands == []


def test_the_master_is_delivered_only_once_every_cut_has_a_verdict():
    state = rendered_farm()
    seq = state.sequences[SID]
    for seg in seq.segment_plan:
        state = evolve(state, ev.SegmentStitched(at=8, sequence_id=SID, segment=seg.name, fingerprint=seq.fingerprint(seg), frames=()))
    assert not state.sequences[SID].ready_to_deliver
    _, commands = step(state, checked(state, CUT))
    assert commands[-1] == Deliver(SID)


def test_a_restart_reapplies_a_fix_that_was_proposed_but_never_took_effect():
    state = rendered_farm()
    state = evolve(state, checked(state, CUT, (finding("exposure", GRADE),)))
    _, commands = step(state, pool("cpu-9"))
    assert ApplyFix(SID, CUT, "exposure", GRADE) in commands


def test_what_a_replaced_shot_version_cost_stays_in_the_sequence_cost():
    state = rendered_farm()
    before = (state.sequences[SID].cost_usd, state.sequences[SID].node_seconds)
    state = evolve(state, checked(state, CUT, (finding("axis_180", REQUEUE),)))
    state = evolve(state, requeued(state))
    assert (state.sequences[SID].cost_usd, state.sequences[SID].node_seconds) == before


def test_cuts_settle_left_to_right_so_no_fix_is_judged_against_a_shot_about_to_change():
    from tests.builders import sequence, shot

    seq = sequence(shot("sh010", 1001, 1004), shot("sh020", 1005, 1008, angle=60), shot("sh030", 1009, 1012, angle=120))
    state = farm(pool("cpu-0", slots=3), submitted(seq), planned(seq))
    for cid in list(state.sequences[SID].chunks):
        state = evolve(state, started(cid))
        state = evolve(state, rendered(state, cid))
    assert [c.name for c in state.sequences[SID].cuts_to_check()] == ["sh010>sh020"]
    state, commands = step(state, checked(state, "sh010>sh020"))
    assert commands[0] == CheckCut(SID, "sh020>sh030")
