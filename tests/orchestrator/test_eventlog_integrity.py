"""The event log after crashes: acknowledged appends survive a kill, a torn last
record is set aside with a warning, and any other damage is read as Unreadable
(its sequence is then set aside by replay) or, for a record of the farm itself,
stops the farm."""

from __future__ import annotations

import hashlib
import logging
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestrator.core.events import Unreadable
from orchestrator.core.evolve import replay
from orchestrator.eventlog.sqlite import LogCorrupt, SqliteEventLog
from tests.builders import SID, planned, pool, submitted

ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, *events) -> None:
    log = SqliteEventLog(path)
    for e in events:
        log.append(e)
    log.close()


def tamper(path: Path, sql: str, *args: object) -> None:
    """Change rows behind the log's back, as a torn write or a bad disk would."""
    raw = sqlite3.connect(path)
    raw.execute("DROP TRIGGER events_no_update")
    raw.execute(sql, args)
    raw.execute(
        "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
        "BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END"
    )
    raw.commit()
    raw.close()


def rows(path: Path, table: str = "events") -> list[tuple]:
    raw = sqlite3.connect(path)
    out = raw.execute(f"SELECT * FROM {table} ORDER BY seq").fetchall()
    raw.close()
    return out


@pytest.mark.parametrize(
    "damage",
    [
        ("UPDATE events SET body = substr(body, 1, length(body) / 2) WHERE seq = 3", "not a complete JSON document"),
        ("UPDATE events SET body = X'00ff00ff' WHERE seq = 3", "not a complete JSON document"),
        ("UPDATE events SET digest = substr(digest, 1, 17) WHERE seq = 3", "digest is not a sha256"),
    ],
    ids=["half-written body", "garbage bytes", "cut-off digest"],
)
def test_a_torn_last_record_is_quarantined_with_a_warning_and_the_log_goes_on(tmp_path, caplog, damage):
    path = tmp_path / "log.db"
    write(path, pool(), submitted(), planned())
    tamper(path, damage[0])
    torn = rows(path)[2]

    with caplog.at_level(logging.WARNING, logger="orchestrator.eventlog.sqlite"):
        log = SqliteEventLog(path)
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert str(path) in warning and "seq 3" in warning and damage[1] in warning

    assert [(s, e.type) for s, e in log.read()] == [(1, "PoolStarted"), (2, "SequenceSubmitted")]
    [(seq, reason, _)] = log.quarantined()
    assert seq == 3 and damage[1] in reason
    # The torn record is kept, as it was found, for whoever investigates.
    assert rows(path, "quarantine")[0][:5] == torn

    # The log goes on past the gap: the torn seq is never reused.
    assert log.append(planned()) == 4
    assert replay([e for _, e in log.read()]).sequences[SID].chunks
    log.close()


def test_after_a_quarantine_rows_still_cannot_be_deleted_or_updated(tmp_path):
    path = tmp_path / "log.db"
    write(path, pool(), submitted())
    tamper(path, "UPDATE events SET body = '{\"type\": \"Seq' WHERE seq = 2")
    log = SqliteEventLog(path)
    assert [s for s, _, _ in log.quarantined()] == [2]
    for statement in ("DELETE FROM events", "UPDATE events SET type = 'x'", "DELETE FROM quarantine", "UPDATE quarantine SET reason = ''"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            log._db.execute(statement)
    log.close()


def unreadable(log: SqliteEventLog) -> dict[int, str]:
    return {seq: r.reason for seq, r in log.read() if isinstance(r, Unreadable)}


def test_a_damaged_record_that_is_not_the_last_is_corruption_and_nothing_is_dropped(tmp_path):
    path = tmp_path / "log.db"
    write(path, pool(), submitted(), planned())
    tamper(path, "UPDATE events SET body = substr(body, 1, 10) WHERE seq = 2")
    log = SqliteEventLog(path)
    assert log.quarantined() == []
    assert unreadable(log) == {2: "event 2 does not match its digest"}
    log.close()
    assert len(rows(path)) == 3


def test_a_complete_last_record_whose_bytes_changed_is_corruption_not_a_torn_write(tmp_path):
    # A crash cuts a write short; it never leaves a whole, different event.
    path = tmp_path / "log.db"
    write(path, pool(), submitted())
    tamper(path, "UPDATE events SET body = replace(body, 'sq010', 'sq011') WHERE seq = 2")
    log = SqliteEventLog(path)
    assert log.quarantined() == []
    assert unreadable(log) == {2: "event 2 does not match its digest"}
    log.close()


def test_only_the_last_record_is_ever_set_aside(tmp_path):
    # Two torn records in a row are not one interrupted append: the second one
    # found is corruption and must stop the farm.
    path = tmp_path / "log.db"
    write(path, pool(), submitted(), planned())
    tamper(path, "UPDATE events SET body = substr(body, 1, 10) WHERE seq >= 2")
    log = SqliteEventLog(path)
    assert [s for s, _, _ in log.quarantined()] == [3]
    assert unreadable(log) == {2: "event 2 does not match its digest"}
    log.close()
    log = SqliteEventLog(path)  # reopening does not eat into the log any further
    assert [s for s, _, _ in log.quarantined()] == [3]
    log.close()


def test_a_damaged_record_of_the_farm_itself_stops_the_farm(tmp_path):
    path = tmp_path / "log.db"
    write(path, pool(), submitted())
    tamper(path, "UPDATE events SET body = substr(body, 1, 10) WHERE seq = 1")
    log = SqliteEventLog(path)
    with pytest.raises(LogCorrupt, match="event 1 does not match its digest"):
        list(log.read())
    log.close()


def test_a_record_with_a_matching_digest_that_is_not_an_event_is_corruption(tmp_path):
    path = tmp_path / "log.db"
    write(path, pool())
    body = '{"type": "Unheard", "at": 1, "sequence_id": "x"}'
    tamper(path, "UPDATE events SET body = ?, digest = ? WHERE seq = 1", body, hashlib.sha256(body.encode()).hexdigest())
    log = SqliteEventLog(path)
    with pytest.raises(LogCorrupt, match="event 1 is not an event this version understands"):
        list(log.read())
    assert log.quarantined() == []
    log.close()


_APPENDER = textwrap.dedent(
    """
    import sys
    from orchestrator.eventlog.sqlite import SqliteEventLog
    from tests.builders import planned, pool, submitted

    log = SqliteEventLog(sys.argv[1])
    events = [pool(), submitted(), planned()]
    i = 0
    while True:
        seq = log.append(events[i % 3])
        print(seq, flush=True)  # acknowledged: append returned, so it must survive
        i += 1
    """
)


def test_a_writer_killed_mid_append_leaves_a_contiguous_digest_clean_log_holding_every_acknowledged_event(tmp_path):
    path = tmp_path / "log.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", _APPENDER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    acknowledged = 0
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            acknowledged = int(line)
            if acknowledged >= 300:
                break
    finally:
        proc.send_signal(signal.SIGKILL)  # mid-append: the writer never stops on its own
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL and acknowledged >= 300

    raw = rows(path)
    assert [r[0] for r in raw] == list(range(1, len(raw) + 1))  # contiguous, from 1
    assert len(raw) >= acknowledged  # no acknowledged append was lost
    assert all(hashlib.sha256(body.encode()).hexdigest() == digest for _, _, _, body, digest in raw)
    log = SqliteEventLog(path)
    assert [s for s, _ in log.read()] == [r[0] for r in raw]
    assert log.quarantined() == []
    log.close()
