"""A record the farm cannot fold costs its own sequence, never the farm (core.isolation)."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from orchestrator.core import events as ev
from orchestrator.core.isolation import FarmRecordUnfoldable, RetireRefused, fold, retirement
from orchestrator.core.state import FarmState
from orchestrator.core.status import SequenceStatus
from tests.builders import SID, pool, sequence, spec, started, submitted

OTHER = "other:sq020"


def other_submitted() -> ev.SequenceSubmitted:
    seq = sequence(show="other", sequence="sq020")
    return ev.SequenceSubmitted(at=0.0, sequence_id=OTHER, spec=seq.model_dump(mode="json"), spec_digest="o")


def poisoned() -> ev.SequenceSubmitted:
    """What an older release wrote for a NaN radius: the spec holds null where a number must be."""
    data = spec()
    data["scenes"]["set"]["objects"][1]["radius"] = None
    return ev.SequenceSubmitted(at=0.0, sequence_id=SID, spec=data, spec_digest="p")


def replay(*records: ev.Record) -> FarmState:
    state = FarmState()
    for seq, record in enumerate(records, start=1):
        state = fold(state, seq, record)
    return state


def planned_for(sid: str, state: FarmState) -> ev.ShotsPlanned:
    from pipelines.chunking import plan_chunks

    spec_ = state.sequences[sid].spec
    return ev.ShotsPlanned(
        at=1.0, sequence_id=sid, versions={s.name: 1 for s in spec_.shots}, chunks=tuple(plan_chunks(spec_, 4))
    )


def test_a_submission_that_cannot_be_folded_sets_aside_only_its_sequence():
    state = replay(pool(), poisoned(), other_submitted())
    assert SID not in state.sequences
    bad = state.unfoldable[SID]
    assert (bad.seq, bad.record_type) == (2, "SequenceSubmitted")
    assert "ValidationError" in bad.reason
    assert state.sequences[OTHER].status is SequenceStatus.SUBMITTED


def test_every_later_record_of_a_set_aside_sequence_is_skipped_and_the_others_go_on():
    state = replay(pool(), poisoned(), other_submitted())
    state = fold(state, 4, planned_for(OTHER, state))
    after = fold(state, 5, started("sh010.1001-1004"))  # of the set-aside sequence: no chunk, no state
    assert after is state
    assert state.sequences[OTHER].status is SequenceStatus.RENDERING


def test_an_illegal_transition_fails_the_sequence_naming_the_record():
    state = replay(pool(), submitted())
    state = fold(state, 3, planned_for(SID, state))
    state = fold(state, 4, started("sh010.1001-1004", attempt=7))
    seq = state.sequences[SID]
    assert seq.status is SequenceStatus.FAILED
    assert seq.reason.startswith("record 4 (ChunkStarted) cannot be folded: IllegalTransition")
    assert "shotfarm log retire" in seq.reason


def test_a_completed_sequence_is_still_set_aside_by_a_bad_record():
    state = replay(pool(), submitted(), ev.SequenceCancelled(at=1.0, sequence_id=SID))
    state = fold(state, 4, ev.ChunkQueued(at=2.0, sequence_id=SID, chunk_id="nope", reason="x"))
    assert state.sequences[SID].status is SequenceStatus.FAILED and SID in state.unfoldable


def test_an_unreadable_record_sets_its_sequence_aside():
    bad = ev.Unreadable(sequence_id=SID, record_type="ChunkRendered", reason="event 3 does not match its digest")
    state = replay(pool(), submitted(), bad)
    assert state.sequences[SID].status is SequenceStatus.FAILED
    assert str(state.unfoldable[SID]) == "record 3 (ChunkRendered) cannot be folded: event 3 does not match its digest"


def test_a_farm_record_that_cannot_be_folded_is_raised_there_is_no_sequence_to_set_aside():
    bad = ev.Unreadable(sequence_id=ev.FARM, record_type="PoolStarted", reason="event 1 does not match its digest")
    with pytest.raises(FarmRecordUnfoldable, match="record 1"):
        replay(bad)


def test_node_slots_held_by_a_set_aside_sequence_go_back_to_the_farm():
    state = replay(pool("cpu-0", slots=2), submitted())
    state = fold(state, 3, planned_for(SID, state))
    state = fold(state, 4, started("sh010.1001-1004"))
    assert state.nodes["cpu-0"].running
    state = fold(state, 5, ev.Unreadable(sequence_id=SID, record_type="ChunkRendered", reason="damaged"))
    assert not state.nodes["cpu-0"].running and state.nodes["cpu-0"].queue == ()


def test_retiring_frees_the_id_and_a_new_submission_starts_afresh():
    state = replay(pool(), poisoned())
    event = retirement(state, SID, "spec from an older release", "ops", now=5.0)
    state = fold(state, 3, event)
    assert SID not in state.unfoldable and SID not in state.sequences
    state = fold(state, 4, submitted())
    assert state.sequences[SID].status is SequenceStatus.SUBMITTED


def test_replay_of_a_retired_sequence_skips_its_records_before_the_retirement():
    retired = ev.SequenceRetired(at=5.0, sequence_id=SID, reason="bad spec", by="ops")
    state = replay(pool(), poisoned(), started("sh010.1001-1004"), retired, submitted(), other_submitted())
    assert state.unfoldable == {}
    assert set(state.sequences) == {SID, OTHER}


@pytest.mark.parametrize(
    "events, reason, message",
    [
        ((), "x", "no sequence"),
        ((submitted(),), "x", "cancel it before retiring it"),
        ((submitted(), ev.SequenceCancelled(at=1.0, sequence_id=SID)), "  ", "give a reason"),
        ((submitted(), ev.SequenceCancelled(at=1.0, sequence_id=SID)), "r" * 1025, "give a reason"),
    ],
    ids=["unknown", "still active", "blank reason", "reason too long"],
)
def test_retirement_is_refused_for_what_is_not_set_aside_or_finished(events, reason, message):
    with pytest.raises(RetireRefused, match=message):
        retirement(replay(pool(), *events), SID, reason, "ops", now=5.0)


def test_a_finished_sequence_may_be_retired():
    state = replay(pool(), submitted(), ev.SequenceCancelled(at=1.0, sequence_id=SID))
    assert retirement(state, SID, "done with it", "ops", now=5.0).reason == "done with it"


def test_events_refuse_non_finite_numbers_before_they_are_written():
    with pytest.raises(ValueError, match="finite"):
        ev.BudgetExceeded(at=1.0, sequence_id=SID, projected_usd=float("nan"), budget_usd=1.0)
    with pytest.raises(ValueError, match="finite"):
        ev.ChunkQueued(at=float("inf"), sequence_id=SID, chunk_id="c", reason="r")




def test_retiring_drops_the_sequences_blocklist_entries_and_keeps_the_others():
    state = replay(pool(), submitted(), other_submitted(), ev.SequenceCancelled(at=1.0, sequence_id=SID))
    failures = {(SID, "cpu-0"): (2, 1.0), (OTHER, "cpu-0"): (1, 1.0)}
    state = replace(state, node_failures=MappingProxyType(failures))
    state = fold(state, 5, retirement(state, SID, "done", "ops", now=5.0))
    assert dict(state.node_failures) == {(OTHER, "cpu-0"): (1, 1.0)}
