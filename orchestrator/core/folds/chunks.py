"""Folds of a chunk's lifecycle: queued, started, refused, rendered, failed, invalidated, preempted.

A result from a superseded attempt folds to the same state but for the slot it frees:
that is how a late answer is fenced off.
"""

from __future__ import annotations

from dataclasses import replace

from orchestrator.core import events as ev
from orchestrator.core.folds.base import changed, fold, put_chunk, put_sequence, queue_released, release_attempt, sequence_of, with_item
from orchestrator.core.state import ChunkState, FarmState, SequenceState
from orchestrator.core.status import (
    ChunkStatus,
    IllegalTransition,
    SequenceStatus,
    check_chunk,
    check_sequence,
)
from orchestrator.scheduling.blocklist import count_failure
from orchestrator.scheduling.ids import AttemptKey
from orchestrator.scheduling.runtime import key_of


@fold(ev.ChunkRefused)
def _refused(state: FarmState, e: ev.ChunkRefused) -> FarmState:
    state = release_attempt(state, e.node_id, AttemptKey.of(e))
    node = state.nodes.get(e.node_id)
    if node is not None and not node.draining:  # a refusal says the node drains, before its NodeDraining is folded
        state = replace(state, nodes=with_item(state.nodes, e.node_id, replace(node, draining=True)))
    seq = sequence_of(state, e.sequence_id)
    c = seq.chunks[e.chunk_id]
    if not _is_current(c, e.attempt):
        return state  # taken back before the refusal came: only its slot was held
    queued = check_chunk(e.chunk_id, c.status, ChunkStatus.QUEUED)
    return put_chunk(state, seq, replace(c, status=queued, attempt=e.attempt - 1, node_id=None))


@fold(ev.ChunkQueued)
def _queued(state: FarmState, e: ev.ChunkQueued) -> FarmState:
    seq = sequence_of(state, e.sequence_id)
    c = seq.chunks[e.chunk_id]
    if c.status is not ChunkStatus.RETRY_WAIT:
        # A backoff timer that outlived its wait: the chunk was queued again since (a
        # restart, a re-render) and may be running or rendered by now.
        return state
    return put_chunk(state, seq, replace(c, status=check_chunk(e.chunk_id, c.status, ChunkStatus.QUEUED)))


@fold(ev.ChunkStarted)
def _started(state: FarmState, e: ev.ChunkStarted) -> FarmState:
    seq = sequence_of(state, e.sequence_id)
    c = seq.chunks[e.chunk_id]
    if e.attempt != c.attempt + 1:
        raise IllegalTransition(f"chunk {e.chunk_id}: attempt {e.attempt} follows attempt {c.attempt}")
    state = put_chunk(
        state,
        seq,
        replace(
            c,
            status=check_chunk(e.chunk_id, c.status, ChunkStatus.RUNNING),
            attempt=e.attempt,
            node_id=e.node_id,
        ),
    )
    node = state.nodes[e.node_id]
    key = AttemptKey.of(e)
    node = changed(node, running=node.running | {key}, queue=(*node.queue, key))
    return changed(state, nodes=with_item(state.nodes, e.node_id, node))


def _is_current(c: ChunkState, attempt: int) -> bool:
    return c.status is ChunkStatus.RUNNING and c.attempt == attempt


def _answered(state: FarmState, e: ev.ChunkRendered | ev.ChunkFailed) -> tuple[FarmState, ChunkState | None]:
    """The state with the answering attempt's slot freed, and its chunk if that attempt is still the
    current one; None for a superseded attempt, whose answer only frees its slot (fenced)."""
    state = release_attempt(state, e.node_id, AttemptKey.of(e))
    c = sequence_of(state, e.sequence_id).chunks[e.chunk_id]
    return state, c if _is_current(c, e.attempt) else None


@fold(ev.ChunkRendered)
def _rendered(state: FarmState, e: ev.ChunkRendered) -> FarmState:
    state, c = _answered(state, e)
    if c is None:
        return state
    state = _learn(state, sequence_of(state, e.sequence_id), c, e)
    state = put_chunk(
        state,
        sequence_of(state, e.sequence_id),
        replace(
            c,
            status=ChunkStatus.RENDERED,
            frames=e.frames,
            node_seconds=c.node_seconds + e.node_seconds,
            cost_usd=c.cost_usd + e.cost_usd,
        ),
    )
    seq = sequence_of(state, e.sequence_id)
    if seq.held:
        released = queue_released(seq)
        if released is not seq:
            seq = released
            state = put_sequence(state, seq)
    if seq.all_rendered and seq.status is SequenceStatus.RENDERING:
        state = put_sequence(state, replace(seq, status=SequenceStatus.STITCHING))
    return state


def _learn(state: FarmState, seq: SequenceState, c: ChunkState, e: ev.ChunkRendered) -> FarmState:
    """Teach the runtime model how long this chunk took on its class."""
    policy = state.policy
    shot = seq.spec.shot(c.plan.shot)
    key = key_of(seq.spec.engine_for(shot, policy.engine), seq.spec.resolution, seq.spec.samples_for(shot))
    model = state.runtime.observe(key, e.gpu_class, policy.farm.speed(e.gpu_class), e.node_seconds, c.plan.cost)
    return changed(state, runtime=model)


@fold(ev.ChunkFailed)
def _failed(state: FarmState, e: ev.ChunkFailed) -> FarmState:
    state, c = _answered(state, e)
    if c is None:
        return state
    if e.node_fault:
        where = (e.sequence_id, e.node_id)
        record = count_failure(state.node_failures.get(where), e.at, state.policy.farm.forgive_after)
        state = replace(state, node_failures=with_item(state.node_failures, where, record))
    gives_up = not e.retryable or e.attempt >= state.policy.max_attempts
    status = ChunkStatus.FAILED if gives_up else ChunkStatus.RETRY_WAIT
    return put_chunk(
        state,
        sequence_of(state, e.sequence_id),
        replace(c, status=status, node_id=None, failures=(*c.failures, e.error)),
    )


@fold(ev.ChunkInvalidated)
def _invalidated(state: FarmState, e: ev.ChunkInvalidated) -> FarmState:
    seq = sequence_of(state, e.sequence_id)
    c = seq.chunks[e.chunk_id]
    if c.status is not ChunkStatus.RENDERED:
        return state  # already on its way to being rendered again
    chunk = replace(
        c,
        status=check_chunk(e.chunk_id, c.status, ChunkStatus.QUEUED),
        frames=(),
        failures=(*c.failures, e.reason),
    )
    status = seq.status
    if status is SequenceStatus.STITCHING:
        status = check_sequence(seq.sequence_id, status, SequenceStatus.RENDERING)
    return put_chunk(state, replace(seq, status=status), chunk)


@fold(ev.ChunkPreempted)
def _preempted(state: FarmState, e: ev.ChunkPreempted) -> FarmState:
    state = release_attempt(state, e.node_id, AttemptKey.of(e))
    seq = sequence_of(state, e.sequence_id)
    c = seq.chunks[e.chunk_id]
    if not _is_current(c, e.attempt):
        return state  # it had already finished or was taken back
    return put_chunk(state, seq, replace(c, status=check_chunk(e.chunk_id, c.status, ChunkStatus.QUEUED), node_id=None))
