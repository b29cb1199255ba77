"""Folds of a shot's versions: a fix applied to its spec, a re-render, a take chosen."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from orchestrator.core import events as ev
from orchestrator.core.chunks import ChunkTable
from orchestrator.core.folds.base import fold, put_sequence, queue_released, sequence_of, with_item
from orchestrator.core.state import ChunkState, FarmState, SequenceState
from orchestrator.core.status import (
    IllegalTransition,
    SequenceStatus,
    check_sequence,
)
from pipelines.spec.sequence import Sequence, Shot


def _with_shot(seq: SequenceState, shot: Shot) -> Sequence:
    shots = [shot if s.name == shot.name else s for s in seq.spec.shots]
    return seq.spec.model_copy(update={"shots": tuple(shots)})


@fold(ev.FixApplied)
def _fix_applied(state: FarmState, e: ev.FixApplied) -> FarmState:
    seq = sequence_of(state, e.sequence_id)
    graded = seq.spec.shot(e.shot).model_copy(update={"grade": e.grade})
    return put_sequence(state, replace(seq, spec=_with_shot(seq, graded)))


@fold(ev.ShotRequeued)
def _shot_requeued(state: FarmState, e: ev.ShotRequeued) -> FarmState:
    seq = sequence_of(state, e.sequence_id)
    if e.version != seq.versions[e.shot] + 1:
        raise IllegalTransition(f"shot {e.shot}: version {e.version} follows version {seq.versions[e.shot]}")
    old = {cid: c for cid, c in seq.chunks.items() if c.plan.shot == e.shot}
    chunks = {cid: c for cid, c in seq.chunks.items() if c.plan.shot != e.shot}
    old_held = {c.plan.chunk_id: c for c in seq.held.get(e.shot, ())}
    renewed = []
    for plan in e.chunks:
        # Attempt numbers carry on, so a late answer for the old version is fenced off.
        before = old.get(plan.chunk_id) or old_held.get(plan.chunk_id)
        renewed.append(ChunkState(plan=plan, version=e.version, attempt=before.attempt if before else 0))
    spec = _with_shot(seq, Shot.model_validate(e.shot_spec))
    held = {shot: waiting for shot, waiting in seq.held.items() if shot != e.shot}
    if spec.conditioning(spec.shot(e.shot)):
        held[e.shot] = tuple(renewed)  # generated from a neighbour's frame: it waits for it again
    else:
        chunks.update((c.plan.chunk_id, c) for c in renewed)
    status = seq.status
    if status in (SequenceStatus.STITCHING, SequenceStatus.COMPLETED):
        status = check_sequence(seq.sequence_id, status, SequenceStatus.RENDERING)
    seq = replace(
        seq,
        master=None,  # the deliverables are made again from the new segments
        finished_at=None,
        spec=spec,
        versions=with_item(seq.versions, e.shot, e.version),
        chunks=ChunkTable.of(chunks),
        held=MappingProxyType(held),
        status=status,
        retired_node_seconds=seq.retired_node_seconds + sum(c.node_seconds for c in old.values()),
        retired_cost_usd=seq.retired_cost_usd + sum(c.cost_usd for c in old.values()),
    )
    return put_sequence(state, queue_released(seq))


@fold(ev.TakeChosen)
def _take_chosen(state: FarmState, e: ev.TakeChosen) -> FarmState:
    seq = sequence_of(state, e.sequence_id)
    if e.version != seq.versions.get(e.shot) or e.fingerprint != seq.take_fingerprint(e.shot):
        return state  # judged against frames that have since changed; a newer choice follows
    return put_sequence(state, queue_released(replace(seq, chosen=with_item(seq.chosen, e.shot, e))))
