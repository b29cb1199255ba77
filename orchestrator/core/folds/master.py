"""Folds of the master: a segment stitched, the master and its deliverables stitched."""

from __future__ import annotations

from dataclasses import replace

from orchestrator.core import events as ev
from orchestrator.core.folds.base import fold, put_sequence, sequence_of, with_item
from orchestrator.core.state import FarmState
from orchestrator.core.status import (
    IllegalTransition,
    SequenceStatus,
)


@fold(ev.SegmentStitched)
def _segment(state: FarmState, e: ev.SegmentStitched) -> FarmState:
    seq = sequence_of(state, e.sequence_id)
    plan = {s.name: s for s in seq.segment_plan}
    if e.segment not in plan:
        raise IllegalTransition(f"sequence {e.sequence_id} has no master segment {e.segment}")
    if e.fingerprint != seq.fingerprint(plan[e.segment]):
        return state  # built from shot versions or grades that have since changed
    return put_sequence(state, replace(seq, segments=with_item(seq.segments, e.segment, e)))


@fold(ev.MasterStitched)
def _stitched(state: FarmState, e: ev.MasterStitched) -> FarmState:
    seq = sequence_of(state, e.sequence_id)
    if seq.status is not SequenceStatus.STITCHING:
        raise IllegalTransition(f"sequence {e.sequence_id}: master stitched while {seq.status.value}")
    return put_sequence(state, replace(seq, master=e))
