"""decide(state, event) -> commands: what the farm does next, given what just happened.

Pure: `state` already has `event` folded in; `board`, when given, is the
scheduling board of that same state (core.live_board keeps one up to date),
read and given back unchanged; without one, dispatch builds it from state
(core.snapshot). Decisions react to the event
that changed something, so a command is asked for once (the chunk that makes
a shot final asks for the segments that use it; the segment that completes
the master asks for the deliverables), and a restart, which records a
PoolStarted, re-derives whatever was in flight.
"""

from __future__ import annotations

from orchestrator.core import events as ev
from orchestrator.core.commands import (
    ApplyFix,
    CheckCut,
    ChooseTake,
    Command,
    Deliver,
    Dispatch,
    ExceedBudget,
    Fail,
    Finish,
    Forgive,
    Plan,
    Preempt,
    Regenerate,
    RetryLater,
    StitchSegment,
)
from orchestrator.core.snapshot import board_of
from orchestrator.core.state import CutState, FarmState, SequenceState
from orchestrator.core.status import ChunkStatus, CutStatus, SequenceStatus
from orchestrator.scheduling import policy
from orchestrator.scheduling.blocklist import expired
from orchestrator.scheduling.board import Board
from pipelines.backoff import Backoff
from pipelines.continuity.findings import Grade, Requeue, Severity

_ACTIVE = (SequenceStatus.RENDERING, SequenceStatus.STITCHING)


def decide(state: FarmState, event: ev.Event, board: Board | None = None) -> list[Command]:
    now = event.at
    match event:
        case ev.SequenceSubmitted():
            return [Plan(event.sequence_id)]
        case ev.ShotsPlanned():
            seq = state.sequences[event.sequence_id]
            gaps = [StitchSegment(seq.sequence_id, g.name) for g in seq.segment_plan if not g.shots]
            return gaps + dispatch(state, now, board)
        case ev.ShotRequeued():
            seq = state.sequences[event.sequence_id]
            return _regenerate(seq, event) + dispatch(state, now, board) + _stale_at_nodes(state, event)
        case ev.TakeChosen():
            return _after_choice(state.sequences[event.sequence_id], event) + dispatch(state, now, board)
        case ev.ChunkQueued() | ev.ChunkInvalidated() | ev.ChunkPreempted() | ev.ChunkRefused():
            return dispatch(state, now, board)
        case ev.NodeDraining():
            return _waiting_at(state, event.node_id, "its node drains")
        case ev.SchedulingChanged() | ev.NodeJoined():
            return dispatch(state, now, board)
        case ev.NodeForgiven():
            return _still_blocked(state, event) + dispatch(state, now, board)
        case ev.SequenceCancelled():
            # Dispatches first: each Preempt records a ChunkPreempted, which dispatches in turn, and a
            # Dispatch decided before it would then send a chunk that is already on its way.
            return dispatch(state, now, board) + _take_back(state, event.sequence_id, "sequence cancelled")
        case ev.CutChecked():
            return _after_check(state.sequences[event.sequence_id], event)
        case ev.FixApplied():
            seq = state.sequences[event.sequence_id]
            return [CheckCut(seq.sequence_id, c.name) for c in seq.cuts_to_check({event.shot})]
        case ev.PoolStarted():
            return dispatch(state, now, board) + _resume(state)  # dispatches first: a Plan dispatches in turn
        case ev.ChunkRendered():
            return _after_render(state, event) + dispatch(state, now, board)
        case ev.ChunkFailed():
            return _after_failure(state, event) + dispatch(state, now, board)
        case ev.SegmentStitched():
            return _deliver_if_ready(state.sequences[event.sequence_id])
        case ev.MasterStitched():
            return [Finish(event.sequence_id)]
        case _:
            return []


def backoff(state: FarmState, attempt: int) -> float:
    """Exponential backoff before retry `attempt + 1`."""
    p = state.policy
    return Backoff(p.backoff_base, p.backoff_max).delay(attempt)


def _after_render(state: FarmState, event: ev.ChunkRendered) -> list[Command]:
    seq = state.sequences[event.sequence_id]
    chunk = seq.chunks[event.chunk_id]
    if chunk.attempt != event.attempt or seq.status not in _ACTIVE:
        return []
    shot = chunk.plan.shot
    holds = {f.frame for f in chunk.frames}
    # A cut is checked as soon as its two boundary frames exist: the chunk that
    # completes the pair asks for it, the sequence need not be finished.
    checks = [
        CheckCut(seq.sequence_id, c.name)
        for c in seq.cuts_to_check({shot})
        if (seq.boundary(c)[0] in holds and c.left == shot) or (seq.boundary(c)[1] in holds and c.right == shot)
    ]
    choices = _choices(seq, {shot, *_beside(seq, shot)}) if seq.spec.generated_shots else []
    return checks + choices + _stitch_ready(seq, {shot})


def _beside(seq: SequenceState, shot: str) -> list[str]:
    """The shots either side of `shot` on the timeline."""
    return [s.name for s in seq.spec.beside(shot) if s is not None]


def _choices(seq: SequenceState, shots: set[str]) -> list[Command]:
    """A take choice for each shot of several takes that can now be judged (its takes and neighbours rendered)."""
    if not any(seq.has_takes(s) for s in shots):
        return []
    return [ChooseTake(seq.sequence_id, s) for s in sorted(seq.takes_to_choose(shots))]


def _after_choice(seq: SequenceState, event: ev.TakeChosen) -> list[Command]:
    """The accepted take's frames are the shot's now: its cuts are checked, the next choice may follow."""
    if not seq.take_current(event.shot) or seq.chosen[event.shot] is not event or seq.status not in _ACTIVE:
        return []  # a stale choice, ignored by evolve too
    checks = [CheckCut(seq.sequence_id, c.name) for c in seq.cuts_to_check({event.shot})]
    return checks + _choices(seq, set(_beside(seq, event.shot))) + _stitch_ready(seq, {event.shot})


def _regenerate(seq: SequenceState, event: ev.ShotRequeued) -> list[Command]:
    """Shots generated from a frame of the requeued shot are generated again, from its new version.

    A dependent still held waits for the new frame by itself; one already
    released (queued, rendering or rendered) was made from the old frame.
    """
    if seq.status not in _ACTIVE:
        return []
    return [
        Regenerate(seq.sequence_id, d, f"generated from a frame of {event.shot}, which renders again as version {event.version}")
        for d in seq.spec.conditioned_on(event.shot)
        if d not in seq.held
    ]


def _stale_at_nodes(state: FarmState, event: ev.ShotRequeued) -> list[Command]:
    """Take back the old version's attempts still waiting in a node's queue: they would render frames nobody uses.

    The attempt a node is rendering (first in its queue) finishes and is ignored:
    a node cannot be interrupted mid-chunk.
    """
    seq = state.sequences[event.sequence_id]
    out: list[Command] = []
    for node in state.nodes.values():
        for key in node.queue[1:]:
            if key.sequence_id != seq.sequence_id:
                continue
            chunk = seq.chunks.get(key.chunk_id)
            current = chunk is not None and chunk.status is ChunkStatus.RUNNING and chunk.attempt == key.attempt
            if not current:  # superseded: by this re-render, or an earlier one
                out.append(Preempt(seq.sequence_id, key.chunk_id, node.node_id, key.attempt, f"{event.shot} renders again as version {event.version}"))
    return out


def _waiting_at(state: FarmState, node_id: str, reason: str) -> list[Command]:
    """Take back the attempts waiting in the node's queue behind the one it renders (which finishes)."""
    node = state.nodes.get(node_id)
    if node is None:
        return []
    out: list[Command] = []
    for key in node.queue[1:]:
        seq = state.sequences.get(key.sequence_id)
        chunk = seq.chunks.get(key.chunk_id) if seq is not None else None
        if chunk is not None and chunk.status is ChunkStatus.RUNNING and chunk.attempt == key.attempt:
            out.append(Preempt(key.sequence_id, key.chunk_id, node_id, key.attempt, reason))
    return out


def _stitch_ready(seq: SequenceState, shots: set[str]) -> list[Command]:
    ready = [s for s in shots if seq.shot_final(s)]
    return [StitchSegment(seq.sequence_id, s.name) for s in seq.segments_to_stitch(set(ready))] if ready else []


def _after_check(seq: SequenceState, event: ev.CutChecked) -> list[Command]:
    cut = seq.cuts[event.cut]
    if cut.fingerprint != event.fingerprint or seq.status not in _ACTIVE:
        return []  # a stale check, ignored by evolve too
    if cut.status is CutStatus.FIXING:
        return _fixes(seq, cut)
    # The next cut may have been waiting for this verdict.
    following = [CheckCut(seq.sequence_id, c.name) for c in seq.cuts_to_check({cut.right}) if c.left == cut.right]
    return following + _stitch_ready(seq, {cut.left, cut.right}) + _deliver_if_ready(seq)


def _fixes(seq: SequenceState, cut: CutState) -> list[Command]:
    """One command per distinct fix the cut's findings carry."""
    out: list[Command] = []
    for f in cut.findings:
        if isinstance(f.fix, Grade | Requeue) and f.severity.rank >= Severity.WARN.rank:
            if not any(isinstance(c, ApplyFix) and c.fix == f.fix for c in out):
                out.append(ApplyFix(seq.sequence_id, cut.name, f.rule, f.fix))
    return out


def _deliver_if_ready(seq: SequenceState) -> list[Command]:
    if seq.status is SequenceStatus.STITCHING and seq.master is None and seq.ready_to_deliver:
        return [Deliver(seq.sequence_id)]
    return []


def _after_failure(state: FarmState, event: ev.ChunkFailed) -> list[Command]:
    seq = state.sequences[event.sequence_id]
    chunk = seq.chunks[event.chunk_id]
    if chunk.attempt != event.attempt or seq.status is not SequenceStatus.RENDERING:
        return []
    if chunk.status not in (ChunkStatus.FAILED, ChunkStatus.RETRY_WAIT):
        return []  # evolve did not take it: the attempt had been taken back (ChunkPreempted)
    farm = state.policy.farm
    record = state.node_failures.get((seq.sequence_id, event.node_id))
    forgive: list[Command] = []
    if record is not None and record[0] == farm.block_after:  # this failure is the one that blocks the node
        forgive.append(Forgive(seq.sequence_id, event.node_id, farm.forgive_after))
    if chunk.status is ChunkStatus.FAILED:
        why = "a permanent error" if not event.retryable else f"{chunk.attempt} attempts"
        return [Fail(seq.sequence_id, f"chunk {chunk.plan.chunk_id} failed after {why}: {event.error}"), *forgive]
    return [RetryLater(seq.sequence_id, chunk.plan.chunk_id, backoff(state, chunk.attempt)), *forgive]


def _still_blocked(state: FarmState, event: ev.NodeForgiven) -> list[Command]:
    """A forgiveness that came too early (the node failed again since) is asked for again."""
    record = state.node_failures.get((event.sequence_id, event.node_id))
    farm = state.policy.farm
    if record is None or record[0] < farm.block_after or expired(record, event.at, farm.forgive_after):
        return []
    return [Forgive(event.sequence_id, event.node_id, max(0.0, record[1] + farm.forgive_after - event.at))]


def _take_back(state: FarmState, sequence_id: str, reason: str) -> list[Command]:
    """Everything the sequence has at nodes: calls still waiting there never start; the
    chunk a node is rendering finishes (a node cannot be interrupted mid-chunk) and is ignored."""
    seq = state.sequences[sequence_id]
    return [
        Preempt(sequence_id, c.plan.chunk_id, c.node_id, c.attempt, reason)
        for c in seq.chunks.values()
        if c.status is ChunkStatus.RUNNING and c.node_id is not None
    ]


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
            for cut in seq.cuts.values():
                if cut.status is CutStatus.FIXING and cut.fingerprint == seq.cut_fingerprint(cut):
                    out += _fixes(seq, cut)  # proposed before the restart, never took effect
            out += [CheckCut(seq.sequence_id, c.name) for c in seq.cuts_to_check() if c.status is not CutStatus.FIXING]
            out += [ChooseTake(seq.sequence_id, s) for s in seq.takes_to_choose()]
            out += [StitchSegment(seq.sequence_id, s.name) for s in seq.segments_to_stitch()]
            out += _deliver_if_ready(seq)
    return out


def dispatch(state: FarmState, now: float = 0.0, board: Board | None = None) -> list[Command]:
    """Ask the scheduling policy what to start, take back and pause (scheduling.policy).

    Within a sequence chunks go in timeline order unless one is long enough
    to delay the farm's drain; across sequences by fair share and priority.
    """
    if not any(n.free > 0 for n in state.nodes.values()) and not _may_preempt(state):
        return []
    p = policy.plan(board if board is not None else board_of(state), now)
    out: list[Command] = [ExceedBudget(o.sequence_id, o.projected_usd, o.budget_usd) for o in p.overruns]
    out += [Dispatch(a.sequence_id, a.chunk_id, a.node_id, a.attempt) for a in p.assignments]
    out += [
        Preempt(x.sequence_id, x.chunk_id, x.node_id, x.attempt, f"preempted for {x.for_sequence}")
        for x in p.preemptions
    ]
    return out


def _may_preempt(state: FarmState) -> bool:
    """Whether any chunk waits at a node behind another (the only work preemption takes back)."""
    return any(len(n.queue) > 1 for n in state.nodes.values())
