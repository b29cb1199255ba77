"""The event log: append-only, ordered, durable settings, damage detected."""

from __future__ import annotations

import sqlite3

import pytest

from orchestrator.core.events import Unreadable
from orchestrator.core.evolve import replay
from orchestrator.eventlog.sqlite import MemoryEventLog, SqliteEventLog
from tests.builders import SID, planned, pool, submitted


@pytest.fixture(params=["sqlite", "memory"])
def log(request, tmp_path):
    log = SqliteEventLog(tmp_path / "log.db") if request.param == "sqlite" else MemoryEventLog()
    yield log
    log.close()


def test_events_come_back_in_order_with_increasing_sequence_numbers(log):
    for e in (pool(), submitted(), planned()):
        log.append(e)
    seqs, events = zip(*log.read())
    assert list(seqs) == sorted(seqs) and len(set(seqs)) == 3
    assert [e.type for e in events] == ["PoolStarted", "SequenceSubmitted", "ShotsPlanned"]


def test_reading_after_a_position_and_by_sequence(log):
    for e in (pool(), submitted(), planned()):
        log.append(e)
    assert [e.type for _, e in log.read(after=2)] == ["ShotsPlanned"]
    assert [e.type for _, e in log.read(sequence_id=SID)] == ["SequenceSubmitted", "ShotsPlanned"]


def test_replaying_a_reopened_log_gives_the_same_state(tmp_path):
    log = SqliteEventLog(tmp_path / "log.db")
    for e in (pool(), submitted(), planned()):
        log.append(e)
    before = replay([e for _, e in log.read()])
    log.close()
    again = SqliteEventLog(tmp_path / "log.db")
    assert replay([e for _, e in again.read()]) == before
    again.close()


def test_the_log_uses_wal_and_full_sync(tmp_path):
    log = SqliteEventLog(tmp_path / "log.db")
    assert log._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert log._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    log.close()


@pytest.mark.parametrize("statement", ["UPDATE events SET type = 'x'", "DELETE FROM events"])
def test_rows_can_never_be_updated_or_deleted(tmp_path, statement):
    log = SqliteEventLog(tmp_path / "log.db")
    log.append(submitted())
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        log._db.execute(statement)
    log.close()


def test_a_damaged_record_is_reported_not_folded(tmp_path):
    path = tmp_path / "log.db"
    log = SqliteEventLog(path)
    log.append(submitted())
    log.close()
    raw = sqlite3.connect(path)
    raw.execute("DROP TRIGGER events_no_update")
    raw.execute("UPDATE events SET body = replace(body, 'sq010', 'sq999')")
    raw.commit()
    raw.close()
    damaged = SqliteEventLog(path)
    [(seq, record)] = list(damaged.read())
    assert isinstance(record, Unreadable) and seq == 1
    assert (record.sequence_id, record.record_type) == (SID, "SequenceSubmitted")
    assert record.reason == "event 1 does not match its digest"
    damaged.close()
