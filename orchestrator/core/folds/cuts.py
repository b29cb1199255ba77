"""Folds of a cut's checks: what the check found, the fix it proposed."""

from __future__ import annotations

from dataclasses import replace

from orchestrator.core import events as ev
from orchestrator.core.folds.base import fold, put_sequence, sequence_of, with_item
from orchestrator.core.state import FarmState
from orchestrator.core.status import (
    CutStatus,
    IllegalTransition,
)
from pipelines.continuity.findings import Grade, Requeue, Severity


@fold(ev.CutChecked)
def _cut_checked(state: FarmState, e: ev.CutChecked) -> FarmState:
    seq = sequence_of(state, e.sequence_id)
    cut = seq.cuts[e.cut]
    if e.fingerprint != seq.cut_fingerprint(cut):
        return state  # the shots changed while it was being checked; a newer check follows
    problems = [f for f in e.findings if f.severity.rank >= Severity.WARN.rank]
    fixable = [f for f in problems if isinstance(f.fix, Grade | Requeue)]
    if not problems:
        status = CutStatus.FIXED if cut.attempts else CutStatus.OK
    elif fixable and cut.attempts < state.policy.max_fix_attempts:
        status = CutStatus.FIXING
    else:
        status = CutStatus.REVIEW
    reports = (*cut.reports, e.report_key) if e.report_key else cut.reports
    updated = replace(
        cut,
        status=status,
        fingerprint=e.fingerprint,
        findings=e.findings,
        attempts=cut.attempts + (status is CutStatus.FIXING),
        reports=reports,
    )
    return put_sequence(state, replace(seq, cuts=with_item(seq.cuts, e.cut, updated)))


@fold(ev.FixProposed)
def _fix_proposed(state: FarmState, e: ev.FixProposed) -> FarmState:
    seq = sequence_of(state, e.sequence_id)
    cut = seq.cuts[e.cut]
    if cut.status is not CutStatus.FIXING:
        raise IllegalTransition(f"cut {e.cut}: a fix was proposed while it is {cut.status.value}")
    # The fix itself arrives as FixApplied or ShotRequeued; this keeps the story.
    cut = replace(cut, fixes=(*cut.fixes, f"{e.rule}: {e.fix.kind}"))
    return put_sequence(state, replace(seq, cuts=with_item(seq.cuts, e.cut, cut)))
