"""evolve(state, event) -> state: how each fact changes what the farm knows.

Pure: no clock, no I/O, the input state is never mutated. Stale results
(from an attempt that has been superseded) fold to the same state, which is
how a late answer from a node the farm gave up on is fenced off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType
from typing import Any, TypeVar

from orchestrator.core import events as ev
from orchestrator.core.chunks import ChunkTable
from orchestrator.core.state import ChunkState, CutState, FarmState, NodeState, SequenceState
from orchestrator.core.status import (
    ChunkStatus,
    CutStatus,
    IllegalTransition,
    SequenceStatus,
    check_chunk,
    check_sequence,
)
from orchestrator.scheduling.blocklist import count_failure, expired
from orchestrator.scheduling.ids import AttemptKey
from orchestrator.scheduling.runtime import key_of
from pipelines.continuity.findings import Grade, Requeue, Severity
from pipelines.master.segments import segments
from pipelines.spec.sequence import Sequence, Shot

K = TypeVar("K")
V = TypeVar("V")
_FOLDS: dict[type, Callable[[FarmState, Any], FarmState]] = {}


def _fold(kind: type) -> Callable[[Callable[[FarmState, Any], FarmState]], Callable[[FarmState, Any], FarmState]]:
    def register(fn: Callable[[FarmState, Any], FarmState]) -> Callable[[FarmState, Any], FarmState]:
        _FOLDS[kind] = fn
        return fn

    return register


def evolve(state: FarmState, event: ev.Event) -> FarmState:
    return _FOLDS[type(event)](state, event)


def _with(mapping: Any, key: K, value: V) -> MappingProxyType[Any, Any]:
    copy = dict(mapping)
    copy[key] = value
    return MappingProxyType(copy)


def _seq(state: FarmState, sequence_id: str) -> SequenceState:
    try:
        return state.sequences[sequence_id]
    except KeyError:
        raise IllegalTransition(f"event for unknown sequence {sequence_id}") from None


def _put_seq(state: FarmState, seq: SequenceState) -> FarmState:
    return replace(state, sequences=_with(state.sequences, seq.sequence_id, seq))


def _put_chunk(state: FarmState, seq: SequenceState, chunk: ChunkState) -> FarmState:
    return _put_seq(state, replace(seq, chunks=seq.chunks.replace(chunk)))


def _release(state: FarmState, node_id: str | None, key: AttemptKey) -> FarmState:
    node = state.nodes.get(node_id) if node_id else None
    if node is None or key not in node.running:
        return state
    queue = tuple(k for k in node.queue if k != key)
    return replace(state, nodes=_with(state.nodes, node_id, replace(node, running=node.running - {key}, queue=queue)))


@_fold(ev.SequenceSubmitted)
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
    return _put_seq(state, seq)


def _cuts(spec: Sequence) -> list[CutState]:
    shots = spec.timeline
    return [CutState(name=f"{a.name}>{b.name}", left=a.name, right=b.name) for a, b in zip(shots, shots[1:])]


@_fold(ev.ShotsPlanned)
def _planned(state: FarmState, e: ev.ShotsPlanned) -> FarmState:
    seq = _seq(state, e.sequence_id)
    waits = {s.name for s in seq.spec.shots if s.name in seq.spec.generated_shots and seq.spec.conditioning(s)}
    chunks = {c.chunk_id: ChunkState(plan=c, version=e.versions[c.shot]) for c in e.chunks if c.shot not in waits}
    held: dict[str, tuple[ChunkState, ...]] = {}
    for c in e.chunks:
        if c.shot in waits:
            held[c.shot] = (*held.get(c.shot, ()), ChunkState(plan=c, version=e.versions[c.shot]))
    return _put_seq(
        state,
        replace(
            seq,
            status=check_sequence(seq.sequence_id, seq.status, SequenceStatus.RENDERING),
            versions=MappingProxyType(dict(e.versions)),
            chunks=ChunkTable.of(chunks),
            held=MappingProxyType(held),
        ),
    )


def _queue_released(seq: SequenceState) -> SequenceState:
    """Queue the held chunks of every shot whose neighbour frames now exist (an O(chunks) re-plan, once per such shot)."""
    ready = [shot for shot in seq.held if seq.conditioning_frames(shot) is not None]
    if not ready:
        return seq
    chunks = dict(seq.chunks.items())
    for shot in ready:
        for chunk in seq.held[shot]:
            chunks[chunk.plan.chunk_id] = chunk
    held = {shot: plans for shot, plans in seq.held.items() if shot not in ready}
    status = seq.status
    if status is SequenceStatus.STITCHING:
        status = check_sequence(seq.sequence_id, status, SequenceStatus.RENDERING)
    return replace(seq, chunks=ChunkTable.of(chunks), held=MappingProxyType(held), status=status)


@_fold(ev.PoolStarted)
def _pool_started(state: FarmState, e: ev.PoolStarted) -> FarmState:
    nodes = {n.node_id: NodeState(n.node_id, n.gpu_class, n.slots) for n in e.nodes}
    sequences = {}
    for sid, seq in state.sequences.items():
        # Whatever was running or waiting for a retry timer had its node or
        # its timer die with the previous coordinator: queue it again.
        if seq.chunks.count(ChunkStatus.RUNNING, ChunkStatus.RETRY_WAIT):
            requeued = {
                cid: replace(c, status=ChunkStatus.QUEUED, node_id=None)
                if c.status in (ChunkStatus.RUNNING, ChunkStatus.RETRY_WAIT)
                else c
                for cid, c in seq.chunks.items()
            }
            seq = replace(seq, chunks=ChunkTable.of(requeued))
        sequences[sid] = seq
    return replace(state, nodes=MappingProxyType(nodes), sequences=MappingProxyType(sequences))


@_fold(ev.NodeJoined)
def _node_joined(state: FarmState, e: ev.NodeJoined) -> FarmState:
    n = e.node
    node = state.nodes.get(n.node_id)
    if node is not None and node.draining:  # back on another machine: it takes work again
        return replace(state, nodes=_with(state.nodes, n.node_id, replace(node, draining=False)))
    if node is not None:
        return state  # already in the pool: it holds what it holds
    nodes = {**state.nodes, n.node_id: NodeState(n.node_id, n.gpu_class, n.slots)}
    return replace(state, nodes=MappingProxyType(nodes))


@_fold(ev.NodeDraining)
def _node_draining(state: FarmState, e: ev.NodeDraining) -> FarmState:
    node = state.nodes.get(e.node_id)
    if node is None or node.draining:
        return state  # not in this pool (a restart since), or already known
    return replace(state, nodes=_with(state.nodes, e.node_id, replace(node, draining=True)))


@_fold(ev.ChunkRefused)
def _refused(state: FarmState, e: ev.ChunkRefused) -> FarmState:
    state = _release(state, e.node_id, AttemptKey.of(e))
    node = state.nodes.get(e.node_id)
    if node is not None and not node.draining:  # a refusal says the node drains, before its NodeDraining is folded
        state = replace(state, nodes=_with(state.nodes, e.node_id, replace(node, draining=True)))
    seq = _seq(state, e.sequence_id)
    c = seq.chunks[e.chunk_id]
    if not _is_current(c, e.attempt):
        return state  # taken back before the refusal came: only its slot was held
    queued = check_chunk(e.chunk_id, c.status, ChunkStatus.QUEUED)
    return _put_chunk(state, seq, replace(c, status=queued, attempt=e.attempt - 1, node_id=None))


@_fold(ev.ChunkQueued)
def _queued(state: FarmState, e: ev.ChunkQueued) -> FarmState:
    seq = _seq(state, e.sequence_id)
    c = seq.chunks[e.chunk_id]
    if c.status is not ChunkStatus.RETRY_WAIT:
        # A backoff timer that outlived its wait: the chunk was queued again since (a
        # restart, a re-render) and may be running or rendered by now.
        return state
    return _put_chunk(state, seq, replace(c, status=check_chunk(e.chunk_id, c.status, ChunkStatus.QUEUED)))


@_fold(ev.ChunkStarted)
def _started(state: FarmState, e: ev.ChunkStarted) -> FarmState:
    seq = _seq(state, e.sequence_id)
    c = seq.chunks[e.chunk_id]
    if e.attempt != c.attempt + 1:
        raise IllegalTransition(f"chunk {e.chunk_id}: attempt {e.attempt} follows attempt {c.attempt}")
    state = _put_chunk(
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
    node = replace(node, running=node.running | {key}, queue=(*node.queue, key))
    return replace(state, nodes=_with(state.nodes, e.node_id, node))


def _is_current(c: ChunkState, attempt: int) -> bool:
    return c.status is ChunkStatus.RUNNING and c.attempt == attempt


@_fold(ev.ChunkRendered)
def _rendered(state: FarmState, e: ev.ChunkRendered) -> FarmState:
    state = _release(state, e.node_id, AttemptKey.of(e))
    seq = _seq(state, e.sequence_id)
    c = seq.chunks[e.chunk_id]
    if not _is_current(c, e.attempt):
        return state  # fenced: a superseded attempt's result only frees its slot
    state = _learn(state, seq, c, e)
    state = _put_chunk(
        state,
        _seq(state, e.sequence_id),
        replace(
            c,
            status=ChunkStatus.RENDERED,
            frames=e.frames,
            node_seconds=c.node_seconds + e.node_seconds,
            cost_usd=c.cost_usd + e.cost_usd,
        ),
    )
    seq = _seq(state, e.sequence_id)
    if seq.held:
        released = _queue_released(seq)
        if released is not seq:
            seq = released
            state = _put_seq(state, seq)
    if seq.all_rendered and seq.status is SequenceStatus.RENDERING:
        state = _put_seq(state, replace(seq, status=SequenceStatus.STITCHING))
    return state


def _learn(state: FarmState, seq: SequenceState, c: ChunkState, e: ev.ChunkRendered) -> FarmState:
    """Teach the runtime model how long this chunk took on its class."""
    policy = state.policy
    shot = seq.spec.shot(c.plan.shot)
    key = key_of(seq.spec.engine_for(shot, policy.engine), seq.spec.resolution, seq.spec.samples_for(shot))
    model = state.runtime.observe(key, e.gpu_class, policy.farm.speed(e.gpu_class), e.node_seconds, c.plan.cost)
    return replace(state, runtime=model)


@_fold(ev.ChunkFailed)
def _failed(state: FarmState, e: ev.ChunkFailed) -> FarmState:
    state = _release(state, e.node_id, AttemptKey.of(e))
    seq = _seq(state, e.sequence_id)
    c = seq.chunks[e.chunk_id]
    if not _is_current(c, e.attempt):
        return state
    if e.node_fault:
        where = (e.sequence_id, e.node_id)
        record = count_failure(state.node_failures.get(where), e.at, state.policy.farm.forgive_after)
        state = replace(state, node_failures=_with(state.node_failures, where, record))
    gives_up = not e.retryable or e.attempt >= state.policy.max_attempts
    status = ChunkStatus.FAILED if gives_up else ChunkStatus.RETRY_WAIT
    return _put_chunk(
        state,
        _seq(state, e.sequence_id),
        replace(c, status=status, node_id=None, failures=(*c.failures, e.error)),
    )


@_fold(ev.ChunkInvalidated)
def _invalidated(state: FarmState, e: ev.ChunkInvalidated) -> FarmState:
    seq = _seq(state, e.sequence_id)
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
    return _put_chunk(state, replace(seq, status=status), chunk)


@_fold(ev.CutChecked)
def _cut_checked(state: FarmState, e: ev.CutChecked) -> FarmState:
    seq = _seq(state, e.sequence_id)
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
    return _put_seq(state, replace(seq, cuts=_with(seq.cuts, e.cut, updated)))


@_fold(ev.FixProposed)
def _fix_proposed(state: FarmState, e: ev.FixProposed) -> FarmState:
    seq = _seq(state, e.sequence_id)
    cut = seq.cuts[e.cut]
    if cut.status is not CutStatus.FIXING:
        raise IllegalTransition(f"cut {e.cut}: a fix was proposed while it is {cut.status.value}")
    # The fix itself arrives as FixApplied or ShotRequeued; this keeps the story.
    cut = replace(cut, fixes=(*cut.fixes, f"{e.rule}: {e.fix.kind}"))
    return _put_seq(state, replace(seq, cuts=_with(seq.cuts, e.cut, cut)))


def _with_shot(seq: SequenceState, shot: Shot) -> Sequence:
    shots = [shot if s.name == shot.name else s for s in seq.spec.shots]
    return seq.spec.model_copy(update={"shots": tuple(shots)})


@_fold(ev.FixApplied)
def _fix_applied(state: FarmState, e: ev.FixApplied) -> FarmState:
    seq = _seq(state, e.sequence_id)
    graded = seq.spec.shot(e.shot).model_copy(update={"grade": e.grade})
    return _put_seq(state, replace(seq, spec=_with_shot(seq, graded)))


@_fold(ev.ShotRequeued)
def _shot_requeued(state: FarmState, e: ev.ShotRequeued) -> FarmState:
    seq = _seq(state, e.sequence_id)
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
        versions=_with(seq.versions, e.shot, e.version),
        chunks=ChunkTable.of(chunks),
        held=MappingProxyType(held),
        status=status,
        retired_node_seconds=seq.retired_node_seconds + sum(c.node_seconds for c in old.values()),
        retired_cost_usd=seq.retired_cost_usd + sum(c.cost_usd for c in old.values()),
    )
    return _put_seq(state, _queue_released(seq))


@_fold(ev.TakeChosen)
def _take_chosen(state: FarmState, e: ev.TakeChosen) -> FarmState:
    seq = _seq(state, e.sequence_id)
    if e.version != seq.versions.get(e.shot) or e.fingerprint != seq.take_fingerprint(e.shot):
        return state  # judged against frames that have since changed; a newer choice follows
    return _put_seq(state, _queue_released(replace(seq, chosen=_with(seq.chosen, e.shot, e))))


@_fold(ev.SegmentStitched)
def _segment(state: FarmState, e: ev.SegmentStitched) -> FarmState:
    seq = _seq(state, e.sequence_id)
    plan = {s.name: s for s in seq.segment_plan}
    if e.segment not in plan:
        raise IllegalTransition(f"sequence {e.sequence_id} has no master segment {e.segment}")
    if e.fingerprint != seq.fingerprint(plan[e.segment]):
        return state  # built from shot versions or grades that have since changed
    return _put_seq(state, replace(seq, segments=_with(seq.segments, e.segment, e)))


@_fold(ev.MasterStitched)
def _stitched(state: FarmState, e: ev.MasterStitched) -> FarmState:
    seq = _seq(state, e.sequence_id)
    if seq.status is not SequenceStatus.STITCHING:
        raise IllegalTransition(f"sequence {e.sequence_id}: master stitched while {seq.status.value}")
    return _put_seq(state, replace(seq, master=e))


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
    seq = _seq(state, sequence_id)
    status = check_sequence(sequence_id, seq.status, status)
    state = release_slots(state, sequence_id)
    return _put_seq(state, replace(seq, status=status, finished_at=at, reason=reason))


@_fold(ev.SequenceCompleted)
def _completed(state: FarmState, e: ev.SequenceCompleted) -> FarmState:
    return _finish(state, e.sequence_id, SequenceStatus.COMPLETED, e.at, None)


@_fold(ev.SequenceFailed)
def _seq_failed(state: FarmState, e: ev.SequenceFailed) -> FarmState:
    return _finish(state, e.sequence_id, SequenceStatus.FAILED, e.at, e.reason)


@_fold(ev.SequenceCancelled)
def _cancelled(state: FarmState, e: ev.SequenceCancelled) -> FarmState:
    return _finish(state, e.sequence_id, SequenceStatus.CANCELLED, e.at, e.reason)


@_fold(ev.ChunkPreempted)
def _preempted(state: FarmState, e: ev.ChunkPreempted) -> FarmState:
    state = _release(state, e.node_id, AttemptKey.of(e))
    seq = _seq(state, e.sequence_id)
    c = seq.chunks[e.chunk_id]
    if not _is_current(c, e.attempt):
        return state  # it had already finished or was taken back
    return _put_chunk(state, seq, replace(c, status=check_chunk(e.chunk_id, c.status, ChunkStatus.QUEUED), node_id=None))


@_fold(ev.BudgetExceeded)
def _over_budget(state: FarmState, e: ev.BudgetExceeded) -> FarmState:
    seq = _seq(state, e.sequence_id)
    reason = f"budget exceeded: projected ${e.projected_usd:.2f} of ${e.budget_usd:.2f}; dispatch paused"
    return _put_seq(state, replace(seq, over_budget=e.projected_usd, reason=reason))


@_fold(ev.NodeForgiven)
def _forgiven(state: FarmState, e: ev.NodeForgiven) -> FarmState:
    where = (e.sequence_id, e.node_id)
    record = state.node_failures.get(where)
    if record is None or not expired(record, e.at, state.policy.farm.forgive_after):
        return state  # it failed again since: the block stands until later
    failures = {k: v for k, v in state.node_failures.items() if k != where}
    return replace(state, node_failures=MappingProxyType(failures))


@_fold(ev.SchedulingChanged)
def _rescheduled(state: FarmState, e: ev.SchedulingChanged) -> FarmState:
    seq = _seq(state, e.sequence_id)
    spec = seq.spec.model_copy(update={"priority": e.priority, "budget_usd": e.budget_usd})
    reason = None if seq.over_budget is not None else seq.reason
    return _put_seq(state, replace(seq, spec=spec, over_budget=None, reason=reason))


def replay(events: list[ev.Event], state: FarmState | None = None) -> FarmState:
    state = state or FarmState()
    for e in events:
        state = evolve(state, e)
    return state
