"""decide(state, event) -> commands: what the farm does next, given what just happened.

Pure: `state` already has `event` folded in. Decisions react to the event
that changed something, so a command is asked for once (the chunk that makes
a shot final asks for the segments that use it; the segment that completes
the master asks for the deliverables), and a restart, which records a
PoolStarted, re-derives whatever was in flight.
"""

from __future__ import annotations

from orchestrator.core import events as ev
from orchestrator.core.commands import Command, Deliver, Dispatch, Fail, Finish, Plan, RetryLater, StitchSegment
from orchestrator.core.state import FarmState, SequenceState
from orchestrator.core.status import ChunkStatus, SequenceStatus

_ACTIVE = (SequenceStatus.RENDERING, SequenceStatus.STITCHING)


def decide(state: FarmState, event: ev.Event) -> list[Command]:
    match event:
        case ev.SequenceSubmitted():
            return [Plan(event.sequence_id)]
        case ev.ShotsPlanned():
            seq = state.sequences[event.sequence_id]
            gaps = [StitchSegment(seq.sequence_id, g.name) for g in seq.segment_plan if not g.shots]
            return gaps + dispatch(state)
        case ev.ChunkQueued() | ev.ChunkInvalidated():
            return dispatch(state)
        case ev.PoolStarted():
            return _resume(state) + dispatch(state)
        case ev.ChunkRendered():
            return _after_render(state, event) + dispatch(state)
        case ev.ChunkFailed():
            return _after_failure(state, event) + dispatch(state)
        case ev.SegmentStitched():
            return _deliver_if_ready(state.sequences[event.sequence_id])
        case ev.MasterStitched():
            return [Finish(event.sequence_id)]
        case _:
            return []


def backoff(state: FarmState, attempt: int) -> float:
    """Exponential backoff before retry `attempt + 1`."""
    p = state.policy
    return min(p.backoff_max, p.backoff_base * 2 ** (attempt - 1))


def _after_render(state: FarmState, event: ev.ChunkRendered) -> list[Command]:
    seq = state.sequences[event.sequence_id]
    chunk = seq.chunks[event.chunk_id]
    if chunk.attempt != event.attempt or seq.status not in _ACTIVE or not seq.shot_final(chunk.plan.shot):
        return []
    return [StitchSegment(seq.sequence_id, s.name) for s in seq.segments_to_stitch({chunk.plan.shot})]


def _deliver_if_ready(seq: SequenceState) -> list[Command]:
    if seq.status is SequenceStatus.STITCHING and seq.master is None and seq.ready_to_deliver:
        return [Deliver(seq.sequence_id)]
    return []


def _after_failure(state: FarmState, event: ev.ChunkFailed) -> list[Command]:
    seq = state.sequences[event.sequence_id]
    chunk = seq.chunks[event.chunk_id]
    if chunk.attempt != event.attempt or seq.status is not SequenceStatus.RENDERING:
        return []
    if chunk.status is ChunkStatus.FAILED:
        why = "a permanent error" if not event.retryable else f"{chunk.attempt} attempts"
        return [Fail(seq.sequence_id, f"chunk {chunk.plan.chunk_id} failed after {why}: {event.error}")]
    return [RetryLater(seq.sequence_id, chunk.plan.chunk_id, backoff(state, chunk.attempt))]


def _resume(state: FarmState) -> list[Command]:
    """After a restart: finish what the log shows was half done."""
    out: list[Command] = []
    for seq in state.sequences.values():
        if seq.status is SequenceStatus.SUBMITTED:
            out.append(Plan(seq.sequence_id))
        elif seq.status in _ACTIVE:
            if seq.master is not None:
                out.append(Finish(seq.sequence_id))
                continue
            out += [StitchSegment(seq.sequence_id, s.name) for s in seq.segments_to_stitch()]
            out += _deliver_if_ready(seq)
    return out


def dispatch(state: FarmState) -> list[Command]:
    """Fill free node slots with queued chunks, in timeline order, sequences by age.

    Each chunk goes to the node with the most free slots (ties by name), so
    work spreads across the pool before any node gets a second chunk.
    """
    free = {n.node_id: n.free for n in state.nodes.values() if n.free > 0}
    if not free:
        return []
    out: list[Command] = []
    for seq in _rendering(state):
        for chunk in seq.chunks_in(ChunkStatus.QUEUED):
            if not free:
                return out
            node_id = max(sorted(free), key=lambda n: free[n])
            out.append(Dispatch(seq.sequence_id, chunk.plan.chunk_id, node_id, chunk.attempt + 1))
            free[node_id] -= 1
            if free[node_id] == 0:
                del free[node_id]
    return out


def _rendering(state: FarmState) -> list[SequenceState]:
    seqs = [s for s in state.sequences.values() if s.status is SequenceStatus.RENDERING]
    return sorted(seqs, key=lambda s: (s.submitted_at, s.sequence_id))
