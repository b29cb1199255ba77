"""`shotfarm log verify`: is an event log consistent, and does the store hold what it promises?

Every record is checked against its digest and its own columns, sequence
numbers must rise with no gap the quarantine does not explain, the whole log
is replayed through core.isolation's `fold` exactly as a coordinator replays
it (a record that cannot be folded is a finding naming it, and its sequence
is set aside from there, as the farm sets it aside), every ChunkRendered must name
each frame of its chunk once under a key no other render ever recorded
(attempts write apart), and every completed sequence must have a master
whose frames, contact sheet and deliverables are in the store with the
digests the log recorded.

Reads only. The log is opened read-only, so a torn last record is reported
here and set aside by the farm the next time it opens the log; the store is
only read. This module must never write to either.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from nodes.errors import NodeError
from nodes.storage import open_store
from nodes.storage.base import DigestMismatch, ObjectMissing, Store, get_verified
from orchestrator.core import events as ev
from orchestrator.core.isolation import FarmRecordUnfoldable, fold
from orchestrator.core.state import FarmState, SequenceState
from orchestrator.core.status import ChunkStatus, SequenceStatus
from orchestrator.eventlog.base import LogUnreadable
from orchestrator.eventlog.location import describe, is_server_log, open_records
from orchestrator.eventlog.sqlite import LOG_NAME, parse_record, torn_reason

EXIT_OK, EXIT_PROBLEMS, EXIT_BAD_INPUT = 0, 1, 2


@dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    what: str
    seq: int | None = None
    sequence_id: str | None = None

    def __str__(self) -> str:
        where = " ".join(p for p in (f"seq {self.seq}" if self.seq else "", self.sequence_id or "") if p)
        return f"{self.level:<7} {where + ': ' if where else ''}{self.what}"


@dataclass(frozen=True)
class SequenceSummary:
    sequence_id: str
    status: str
    chunks_rendered: int
    chunks: int
    master_frames: int
    objects_checked: int
    reason: str | None = None

    def __str__(self) -> str:
        text = f"{self.sequence_id}  {self.status}  {self.chunks_rendered}/{self.chunks} chunks rendered"
        if self.master_frames:
            text += f"  master {self.master_frames} frames ({self.objects_checked} stored objects checked)"
        return text + (f"  ({self.reason})" if self.reason else "")


@dataclass
class Verification:
    path: str
    records: int = 0
    quarantined: int = 0
    findings: list[Finding] = field(default_factory=list)
    sequences: list[SequenceSummary] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.level == "error" for f in self.findings)

    def add(self, level: Literal["error", "warning"], what: str, seq: int | None = None, sid: str | None = None) -> None:
        self.findings.append(Finding(level, what, seq, sid))

    def lines(self) -> list[str]:
        out = [f"{self.path}: {self.records} events, {len(self.sequences)} sequences, {self.quarantined} quarantined"]
        out += [f"  {s}" for s in self.sequences]
        out += [str(f) for f in self.findings]
        errors = sum(f.level == "error" for f in self.findings)
        out.append("consistent" if self.ok else f"{errors} problem{'s' * (errors != 1)} found")
        return out


def verify(log_url: str | Path, store_url: str | None = None) -> Verification:
    """Check the log at `log_url` (a path or postgresql://), and its completed masters in `store_url`.

    The store defaults to a SQLite log's folder; a server log names no folder, so it must be given.
    """
    if store_url is None and is_server_log(log_url):
        raise LogUnreadable(f"{describe(log_url)}: a log on a server needs --store (where its frames and masters are)")
    records = open_records(log_url)
    report = Verification(records.where)
    try:
        store = open_store(store_url or str(Path(log_url).parent))  # ValueError for a URL it cannot use
        damage = records.damage()
        if damage:
            report.add("error", damage)
        rows = list(records.rows())
        quarantine = records.quarantine()
        last_issued = records.last_issued()
    finally:
        records.close()
    report.records, report.quarantined = len(rows), len(quarantine)
    for seq, type_, reason in quarantine:
        report.add("warning", f"{type_} record set aside: {reason}", seq)
    state = _replay(rows, {q[0] for q in quarantine}, last_issued, report)
    for seq in state.sequences.values():
        checked = _check_sequence(seq, store, report)
        report.sequences.append(
            SequenceSummary(
                sequence_id=seq.sequence_id,
                status=seq.status.value,
                chunks_rendered=len(seq.chunks_in(ChunkStatus.RENDERED)),
                chunks=len(seq.chunks),
                master_frames=len(seq.master.frames) if seq.master else 0,
                objects_checked=checked,
                reason=seq.reason,
            )
        )
    for bad in state.unfoldable.values():
        if bad.sequence_id not in state.sequences:  # its submission itself could not be folded
            report.sequences.append(SequenceSummary(bad.sequence_id, "set aside", 0, 0, 0, 0, str(bad)))
    return report


def _replay(rows: list[tuple], quarantined: set[int], last_issued: int, report: Verification) -> FarmState:
    state = FarmState()
    recorded: dict[str, int] = {}  # frame key -> the seq of the render that recorded it
    previous = 0
    for seq, sequence_id, type_, body, digest in rows:
        missing = sorted(set(range(previous + 1, seq)) - quarantined)
        if missing:
            report.add("error", f"records {missing[0]}..{missing[-1]} are gone and not in the quarantine", seq)
        previous = seq
        event, problem = parse_record(seq, body, digest)
        if event is None:
            torn = seq == rows[-1][0] == last_issued and torn_reason(body, digest)
            if torn:
                report.add("warning", f"torn last record ({torn}); the farm sets it aside when it next opens the log", seq)
                continue
            report.add("error", str(problem), seq, sequence_id)
            if sequence_id == ev.FARM or not isinstance(sequence_id, str):
                continue  # the farm itself stops here; verify reads on to report the rest
            record: ev.Record = ev.Unreadable(sequence_id=sequence_id, record_type=str(type_)[:64], reason=str(problem))
        else:
            record = event
            if (record.sequence_id, record.type) != (sequence_id, type_):
                report.add("error", f"columns say {type_} of {sequence_id}, the body {record.type} of {record.sequence_id}", seq)
            if isinstance(record, ev.ChunkRendered) and record.sequence_id not in state.unfoldable:
                _check_render(state, record, seq, recorded, report)
        state = _fold(state, seq, record, report)
    missing = sorted(set(range(previous + 1, last_issued + 1)) - quarantined)
    if missing:
        report.add("error", f"records {missing[0]}..{missing[-1]} after the last one are gone and not in the quarantine")
    return state


def _fold(state: FarmState, seq: int, record: ev.Record, report: Verification) -> FarmState:
    """Fold as the farm folds (core.isolation), saying where a sequence is set aside or retired."""
    sid = record.sequence_id
    was_aside = sid in state.unfoldable
    try:
        after = fold(state, seq, record)
    except FarmRecordUnfoldable as e:
        report.add("error", f"{record.type} of the farm itself cannot be folded: {e}", seq)
        return state
    bad = after.unfoldable.get(sid)
    if bad is not None and not was_aside and not isinstance(record, ev.Unreadable):
        report.add("error", f"{record.type} cannot be folded ({bad.reason}); the farm sets {sid} aside from here", seq, sid)
    elif bad is not None and not was_aside:
        report.add("error", f"the farm sets {sid} aside from here", seq, sid)
    if isinstance(record, ev.SequenceRetired):
        # What an operator has retired is no longer a problem of the log, but it is still told.
        report.findings = [
            Finding("warning", f"{f.what} (retired at seq {seq})", f.seq, f.sequence_id)
            if f.sequence_id == sid and f.level == "error" else f
            for f in report.findings
        ]
        report.add("warning", f"retired by {record.by}: {record.reason}", seq, sid)
    return after


def _check_render(state: FarmState, e: ev.ChunkRendered, seq: int, recorded: dict[str, int], report: Verification) -> None:
    """Each frame of the chunk once, each under a key no other render recorded."""
    sid = e.sequence_id
    keys = [f.key for f in e.frames]
    if len(set(keys)) != len(keys):
        report.add("error", f"chunk {e.chunk_id} attempt {e.attempt} records one key for two frames", seq, sid)
    for key in keys:
        if key in recorded:
            report.add("error", f"{key} was already recorded by the render at seq {recorded[key]}", seq, sid)
        recorded.setdefault(key, seq)
    sequence = state.sequences.get(sid)
    chunk = sequence.chunks.get(e.chunk_id) if sequence else None
    if chunk is not None and sorted(f.frame for f in e.frames) != list(chunk.plan.frames):
        report.add("error", f"chunk {e.chunk_id} attempt {e.attempt} does not record each of its frames once", seq, sid)


def _check_sequence(seq: SequenceState, store: Store, report: Verification) -> int:
    """Completed sequences: the master is whole, agrees with its segments and is in the store."""
    sid = seq.sequence_id
    if seq.status is not SequenceStatus.COMPLETED:
        return 0
    if seq.master is None:
        report.add("error", "completed without a MasterStitched", sid=sid)
        return 0
    if not seq.all_rendered:
        report.add("error", "completed with chunks that are not rendered", sid=sid)
    master = seq.master
    numbers = [f.frame for f in master.frames]
    if numbers != list(range(master.range.first, master.range.last + 1)):
        report.add("error", f"the master does not hold each frame {master.range.first}..{master.range.last} once", sid=sid)
    segments = [f for s in seq.segment_plan if s.name in seq.segments for f in seq.segments[s.name].frames]
    if not all(seq.segment_current(s) for s in seq.segment_plan) or tuple(segments) != master.frames:
        report.add("error", "the master is not the current segments' frames", sid=sid)
    objects = [*master.frames, master.contact_sheet, *master.deliverables.values()]
    for record in objects:
        try:
            get_verified(store, record.key, record.digest)
        except ObjectMissing:
            report.add("error", f"{record.key} is missing from the store", sid=sid)
        except DigestMismatch as e:
            report.add("error", str(e), sid=sid)
        except (OSError, NodeError) as e:
            report.add("error", f"{record.key} could not be read: {e}", sid=sid)
    return len(objects)


def log_verify_main(args: argparse.Namespace) -> int:
    """`shotfarm log verify [--out DIR] [--log PATH|URL] [--store URL]`: 0 consistent, 1 problems found, 2 bad input."""
    out = Path(args.out)
    try:
        report = verify(getattr(args, "log", None) or out / LOG_NAME, args.store or str(out))
    except ValueError as e:  # no log there, or a store URL it cannot use
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for line in report.lines():
        print(line)
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def log_backup_main(args: argparse.Namespace) -> int:
    """`shotfarm log backup LOG DEST`: an online copy of a SQLite log; 0 done, 2 bad input."""
    from orchestrator.eventlog.sqlite import backup

    if is_server_log(str(args.log)):
        print("error: a PostgreSQL log is backed up with pg_dump (docs/runbook.md)", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        target = backup(args.log, args.dest)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{args.log} backed up to {target}; check it with: shotfarm log verify --log {target} --store STORE")
    return EXIT_OK
