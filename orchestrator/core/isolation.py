"""Folding the log so that one bad record costs one sequence, never the farm.

`fold(state, seq, record)` is `evolve` for replay and for the live loop: a
record that cannot be folded (it fails its digest, this version cannot
parse it, or evolve refuses it) marks its own sequence failed, naming the
record and why, and every later record of that sequence is skipped. Every
other sequence and show carries on. The sequence stays set aside until an
operator retires it (SequenceRetired, through `shotfarm log retire` or the
API); then its id is free, and a new submission starts it afresh.

A record of the farm itself (a PoolStarted) has no sequence to fail, so its
failure is raised: that is corruption of the farm, not of a show's work.
Pure, like evolve: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from orchestrator.core import events as ev
from orchestrator.core.evolve import evolve, release_slots
from orchestrator.core.state import FarmState, Unfoldable
from orchestrator.core.status import SequenceStatus

RETIRE_HINT = "an operator can retire it: shotfarm log retire SEQUENCE_ID, or POST /v1/sequences/{id}/retire"


class FarmRecordUnfoldable(RuntimeError):
    """A farm-wide record (no sequence to set aside) cannot be folded."""


def fold(state: FarmState, seq: int, record: ev.Record) -> FarmState:
    """The state after `record` (logged at `seq`), with any failure isolated to its sequence."""
    sid = record.sequence_id
    if isinstance(record, ev.SequenceRetired):
        return retire(state, sid)
    if sid in state.unfoldable:
        return state  # set aside: nothing after the bad record is trusted
    if isinstance(record, ev.Unreadable):
        return _isolate(state, Unfoldable(sid, seq, record.record_type, record.reason))
    try:
        return evolve(state, record)
    except Exception as e:  # any failure of the fold is the record's, whatever its kind
        reason = f"{type(e).__name__}: {_first_line(e)}"
        return _isolate(state, Unfoldable(sid, seq, record.type, reason))


def isolated(state: FarmState, sequence_id: str) -> bool:
    """True when the sequence is set aside: the live loop then decides nothing for it."""
    return sequence_id in state.unfoldable


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0][:300] if lines else ""


def _isolate(state: FarmState, bad: Unfoldable) -> FarmState:
    if bad.sequence_id == ev.FARM:
        raise FarmRecordUnfoldable(str(bad))
    unfoldable = MappingProxyType({**state.unfoldable, bad.sequence_id: bad})
    sequences = dict(state.sequences)
    current = sequences.get(bad.sequence_id)
    if current is not None:
        # Out of band: whatever its status, the sequence stops here.
        sequences[bad.sequence_id] = replace(
            current, status=SequenceStatus.FAILED, reason=f"{bad}; {RETIRE_HINT}", finished_at=current.finished_at
        )
    state = replace(state, unfoldable=unfoldable, sequences=MappingProxyType(sequences))
    return release_slots(state, bad.sequence_id)


def retire(state: FarmState, sequence_id: str) -> FarmState:
    """The farm without the sequence: its state, its blocklist entries and the node slots it held."""
    sequences = {k: v for k, v in state.sequences.items() if k != sequence_id}
    unfoldable = {k: v for k, v in state.unfoldable.items() if k != sequence_id}
    failures = {k: v for k, v in state.node_failures.items() if k[0] != sequence_id}  # (sequence_id, node_id)
    state = replace(
        state,
        sequences=MappingProxyType(sequences),
        unfoldable=MappingProxyType(unfoldable),
        node_failures=MappingProxyType(failures),
    )
    return release_slots(state, sequence_id)


class RetireRefused(ValueError):
    """A retirement the farm must refuse; the message says why."""


_FINISHED = (SequenceStatus.COMPLETED, SequenceStatus.FAILED, SequenceStatus.CANCELLED)


def retirement(state: FarmState, sequence_id: str, reason: str, by: str, now: float) -> ev.SequenceRetired:
    """The SequenceRetired to record, or RetireRefused: only a set-aside or finished sequence may go."""
    reason = reason.strip()
    if not reason or len(reason) > 1024:
        raise RetireRefused("give a reason of 1 to 1024 characters: it stays in the log")
    if sequence_id not in state.unfoldable:
        seq = state.sequences.get(sequence_id)
        if seq is None:
            raise RetireRefused(f"no sequence {sequence_id}")
        if seq.status not in _FINISHED:
            raise RetireRefused(f"{sequence_id} is {seq.status.value}; cancel it before retiring it")
    return ev.SequenceRetired(at=now, sequence_id=sequence_id, reason=reason, by=by[:128])
