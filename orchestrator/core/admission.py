"""What the farm records for a request or an outcome, or why it refuses: pure choices, no I/O.

The coordinator asks these functions and records what they return; it makes
no choice of its own. Each takes the state, the request and `now`, and
returns the events to record (or raises Refused saying why not):

- `submission`: a new sequence, the same one again (a resume, perhaps with a
  new priority or budget), or a refusal (a changed spec under the same id, a
  shot no node class can run, a set-aside id);
- `plan` and `requeue`: the chunks a sequence or a new version of one shot
  renders as (a requeue bumps the shot's version and patches its spec);
- `rerender`, `cancellation`: a person's request, checked against the state;
- `fix`: what a continuity fix records (a grade, or a re-render);
- `master_failure`: a bad source frame sends its chunk back to render while
  attempts are left; anything else fails the sequence.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

from orchestrator.core import events as ev
from orchestrator.core.commands import ApplyFix
from orchestrator.core.isolation import RETIRE_HINT
from orchestrator.core.state import FarmState, SequenceState
from orchestrator.core.status import SequenceStatus
from orchestrator.scheduling.chunk_size import plan_sized
from orchestrator.scheduling.farm import FarmConfigError, Need
from orchestrator.scheduling.ids import sequence_id
from pipelines.chunking import ChunkPlan
from pipelines.continuity.findings import Grade, Requeue, apply_patch
from pipelines.spec.sequence import Sequence

SCHEDULING_FIELDS = {"priority", "budget_usd"}
"""How a sequence is scheduled, not what it renders: changing them resumes the same sequence."""
_FINISHED = (SequenceStatus.COMPLETED, SequenceStatus.FAILED, SequenceStatus.CANCELLED)


class BadRequest(ValueError):
    """Something asked of the farm that it must refuse; the message says why."""


class SpecConflict(BadRequest):
    """The log already holds this sequence with a different spec."""


def spec_digest(sequence: Sequence) -> str:
    content = sequence.model_dump(mode="json", exclude=SCHEDULING_FIELDS)
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def sequence_id_of(sequence: Sequence) -> str:
    return sequence_id(sequence.show, sequence.sequence)


def refuse_unfoldable(state: FarmState, sid: str) -> None:
    bad = state.unfoldable.get(sid)
    if bad is not None:
        raise BadRequest(f"{sid} is set aside: {bad}; {RETIRE_HINT}")


def submission(state: FarmState, sequence: Sequence, now: float) -> list[ev.Event]:
    """What submitting `sequence` records: [SequenceSubmitted], [SchedulingChanged], or nothing (a plain resume)."""
    sid, digest = sequence_id_of(sequence), spec_digest(sequence)
    refuse_unfoldable(state, sid)
    width, height = sequence.resolution
    try:  # a shot no class can run is refused now, not left queued for ever
        state.policy.farm.check_sequence({s.name: Need(sequence.engine_for(s, state.policy.engine), width * height) for s in sequence.shots})
    except FarmConfigError as e:
        raise BadRequest(str(e)) from None
    existing = state.sequences.get(sid)
    if existing is None:
        return [ev.SequenceSubmitted(at=now, sequence_id=sid, spec=sequence.model_dump(mode="json"), spec_digest=digest)]
    if existing.spec_digest != digest:
        raise SpecConflict(
            f"this output folder already holds {sid} rendered from a different spec; "
            "use another --out to render the changed spec"
        )
    old = existing.spec
    if (old.priority, old.budget_usd) == (sequence.priority, sequence.budget_usd):
        return []
    return [ev.SchedulingChanged(at=now, sequence_id=sid, priority=sequence.priority, budget_usd=sequence.budget_usd)]


def chunks_for(state: FarmState, spec: Sequence, chunk_frames: int, shots: set[str] | None = None) -> list[ChunkPlan]:
    """Chunks sized toward the farm's target duration once the runtime model knows the engine."""
    nodes = Counter(node.gpu_class for node in state.nodes.values())
    return plan_sized(spec, state.runtime, state.policy.farm, state.policy.engine, chunk_frames, nodes, shots)


def plan(state: FarmState, sid: str, chunk_frames: int, now: float) -> ev.ShotsPlanned:
    """Every shot of a submitted sequence as version 1, in chunks."""
    spec = state.sequences[sid].spec
    chunks = chunks_for(state, spec, chunk_frames)
    return ev.ShotsPlanned(at=now, sequence_id=sid, versions={s.name: 1 for s in spec.shots}, chunks=tuple(chunks))


def requeue(
    state: FarmState,
    sid: str,
    shot: str,
    patch: dict[str, Any],
    cut: str | None,
    chunk_frames: int,
    now: float,
    reason: str | None = None,
) -> ev.ShotRequeued:
    """A new version of the shot, patched, and the chunks it renders as."""
    seq = state.sequences[sid]
    patched = apply_patch(seq.spec.shot(shot), patch)
    spec = seq.spec.model_copy(update={"shots": tuple(patched if s.name == shot else s for s in seq.spec.shots)})
    return ev.ShotRequeued(
        at=now,
        sequence_id=sid,
        cut=cut,
        shot=shot,
        patch=patch,
        version=seq.versions[shot] + 1,
        shot_spec=patched.model_dump(mode="json"),
        chunks=tuple(chunks_for(state, spec, chunk_frames, {shot})),
        reason=reason,
    )


def rerender(state: FarmState, sid: str, shot: str) -> SequenceState:
    """The sequence a re-render of `shot` is asked of, or BadRequest."""
    refuse_unfoldable(state, sid)
    seq = state.sequences.get(sid)
    if seq is None:
        raise BadRequest(f"no sequence {sid}")
    if shot not in seq.versions:
        raise BadRequest(f"--rerender {shot}: {sid} has no such shot (shots: {', '.join(seq.versions)})")
    return seq


def cancellation(state: FarmState, sid: str, reason: str, now: float) -> ev.SequenceCancelled:
    refuse_unfoldable(state, sid)
    seq = state.sequences.get(sid)
    if seq is None:
        raise BadRequest(f"no sequence {sid}")
    if seq.status in _FINISHED:
        raise BadRequest(f"{sid} is already {seq.status.value}")
    return ev.SequenceCancelled(at=now, sequence_id=sid, reason=reason)


def fix(state: FarmState, command: ApplyFix, now: float) -> tuple[ev.FixProposed, ev.FixApplied | None, Requeue | None]:
    """What a continuity fix records: the proposal, then a grade at once, or a re-render to plan."""
    seq = state.sequences[command.sequence_id]
    base = dict(at=now, sequence_id=seq.sequence_id, cut=command.cut)
    proposed = ev.FixProposed(rule=command.rule, fix=command.fix, attempt=seq.cuts[command.cut].attempts, **base)
    if isinstance(command.fix, Grade):
        return proposed, ev.FixApplied(shot=command.fix.shot, grade=command.fix.cdl, **base), None
    assert isinstance(command.fix, Requeue)
    return proposed, None, command.fix


def master_failure(
    state: FarmState, sid: str, what: str, message: str, bad: tuple[str, int, str] | None, now: float
) -> ev.Event | None:
    """What the master node's failure records.

    A bad source frame (`bad`: shot, frame, why) renders its chunk again while
    the chunk has attempts left; anything else fails a sequence that is still
    rendering or stitching; a sequence already finished (or gone) records nothing.
    """
    seq = state.sequences.get(sid)
    if seq is None:
        return None
    if bad is not None:
        shot, frame, why = bad
        chunk = seq.chunk_holding(shot, frame)
        if chunk is not None and chunk.attempt < state.policy.max_attempts:
            return ev.ChunkInvalidated(at=now, sequence_id=sid, chunk_id=chunk.plan.chunk_id, reason=why)
    if seq.status in (SequenceStatus.RENDERING, SequenceStatus.STITCHING):
        return ev.SequenceFailed(at=now, sequence_id=sid, reason=f"{what}: {message}")
    return None
