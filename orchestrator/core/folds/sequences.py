"""Folds of a sequence's lifecycle: submitted, planned, finished, its budget and its scheduling."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from orchestrator.core import events as ev
from orchestrator.core.chunks import ChunkTable
from orchestrator.core.folds.base import fold, put_sequence, sequence_of
from orchestrator.core.state import ChunkState, CutState, FarmState, SequenceState
from orchestrator.core.status import (
    IllegalTransition,
    SequenceStatus,
    check_sequence,
)
from pipelines.master.segments import segments
from pipelines.spec.sequence import Sequence


@fold(ev.SequenceSubmitted)
def _submitted(state: FarmState, e: ev.SequenceSubmitted) -> FarmState:
    if e.sequence_id in state.sequences:
        raise IllegalTransition(f"sequence {e.sequence_id} was already submitted")
    spec = Sequence.model_validate(e.spec)
    seq = SequenceState(
        e.sequence_id,
        spec,
        e.spec_digest,
        submitted_at=e.at,
        segment_plan=tuple(segments(spec)),
        cuts=MappingProxyType({c.name: c for c in _cuts(spec)}),
    )
    return put_sequence(state, seq)


def _cuts(spec: Sequence) -> list[CutState]:
    shots = spec.timeline
    return [CutState(name=f"{a.name}>{b.name}", left=a.name, right=b.name) for a, b in zip(shots, shots[1:])]


@fold(ev.ShotsPlanned)
def _planned(state: FarmState, e: ev.ShotsPlanned) -> FarmState:
    seq = sequence_of(state, e.sequence_id)
    waits = {s.name for s in seq.spec.shots if s.name in seq.spec.generated_shots and seq.spec.conditioning(s)}
    chunks = {c.chunk_id: ChunkState(plan=c, version=e.versions[c.shot]) for c in e.chunks if c.shot not in waits}
    held: dict[str, tuple[ChunkState, ...]] = {}
    for c in e.chunks:
        if c.shot in waits:
            held[c.shot] = (*held.get(c.shot, ()), ChunkState(plan=c, version=e.versions[c.shot]))
    return put_sequence(
        state,
        replace(
            seq,
            status=check_sequence(seq.sequence_id, seq.status, SequenceStatus.RENDERING),
            versions=MappingProxyType(dict(e.versions)),
            chunks=ChunkTable.of(chunks),
            held=MappingProxyType(held),
        ),
    )


def release_slots(state: FarmState, sequence_id: str) -> FarmState:
    """Slots the sequence's attempts hold go back to the farm (their late answers are ignored)."""
    nodes = dict(state.nodes)
    for nid, node in state.nodes.items():
        held = {k for k in node.running if k.sequence_id == sequence_id}
        if held:
            queue = tuple(k for k in node.queue if k.sequence_id != sequence_id)
            nodes[nid] = replace(node, running=node.running - held, queue=queue)
    return replace(state, nodes=MappingProxyType(nodes))


def _finish(state: FarmState, sequence_id: str, status: SequenceStatus, at: float, reason: str | None) -> FarmState:
    seq = sequence_of(state, sequence_id)
    status = check_sequence(sequence_id, seq.status, status)
    state = release_slots(state, sequence_id)
    return put_sequence(state, replace(seq, status=status, finished_at=at, reason=reason))


@fold(ev.SequenceCompleted)
def _completed(state: FarmState, e: ev.SequenceCompleted) -> FarmState:
    return _finish(state, e.sequence_id, SequenceStatus.COMPLETED, e.at, None)


@fold(ev.SequenceFailed)
def _seq_failed(state: FarmState, e: ev.SequenceFailed) -> FarmState:
    return _finish(state, e.sequence_id, SequenceStatus.FAILED, e.at, e.reason)


@fold(ev.SequenceCancelled)
def _cancelled(state: FarmState, e: ev.SequenceCancelled) -> FarmState:
    return _finish(state, e.sequence_id, SequenceStatus.CANCELLED, e.at, e.reason)


@fold(ev.BudgetExceeded)
def _over_budget(state: FarmState, e: ev.BudgetExceeded) -> FarmState:
    seq = sequence_of(state, e.sequence_id)
    reason = f"budget exceeded: projected ${e.projected_usd:.2f} of ${e.budget_usd:.2f}; dispatch paused"
    return put_sequence(state, replace(seq, over_budget=e.projected_usd, reason=reason))


@fold(ev.SchedulingChanged)
def _rescheduled(state: FarmState, e: ev.SchedulingChanged) -> FarmState:
    seq = sequence_of(state, e.sequence_id)
    spec = seq.spec.model_copy(update={"priority": e.priority, "budget_usd": e.budget_usd})
    reason = None if seq.over_budget is not None else seq.reason
    return put_sequence(state, replace(seq, spec=spec, over_budget=None, reason=reason))
