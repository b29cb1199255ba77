"""The event log's contract, one suite for both logs: SQLite (a file) and PostgreSQL (a real server).

Each test runs once per log. A `Backend` is the log's location plus a raw
connection that goes behind the log's back (as a torn write, a bad disk or
a hand edit would), so every test says the same thing of both.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from nodes.storage import open_store
from orchestrator.core.events import Unreadable
from orchestrator.core.evolve import replay
from orchestrator.eventlog.base import EventLog
from orchestrator.eventlog.location import open_log, open_records
from orchestrator.eventlog.sqlite import LogCorrupt, LogOwned, LogWriteFailed
from orchestrator.eventlog.verify import verify
from tests.builders import SID, planned, pool, submitted
from tests.pg_fixtures import create_database, database_url, drop_database, pg_url  # noqa: F401


class Backend:
    name: str
    url: str
    refused: type[Exception]

    def open(self, own_timeout: float | None = None) -> EventLog:
        return open_log(self.url, own_timeout=own_timeout)

    def execute(self, sql: str, *args: object) -> list[tuple]:
        """Run SQL with `?` placeholders on a connection of its own, committed at once."""
        raise NotImplementedError

    def tamper(self, seq: int, body: str | None = None, digest: str | None = None) -> None:
        """Change a stored row past the append-only trigger, as damage would."""
        raise NotImplementedError

    def rows(self, table: str = "events") -> list[tuple]:
        return self.execute(f"SELECT seq, sequence_id, type, body, digest FROM {table} ORDER BY seq")


class SqliteBackend(Backend):
    name, refused = "sqlite", sqlite3.DatabaseError

    def __init__(self, folder: Path):
        self.url = str(folder / "shotfarm.db")

    def execute(self, sql: str, *args: object) -> list[tuple]:
        db = sqlite3.connect(self.url, isolation_level=None)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def tamper(self, seq: int, body: str | None = None, digest: str | None = None) -> None:
        db = sqlite3.connect(self.url)
        db.execute("DROP TRIGGER events_no_update")
        db.execute("UPDATE events SET body = coalesce(?, body), digest = coalesce(?, digest) WHERE seq = ?", (body, digest, seq))
        db.execute("CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'append-only'); END")
        db.commit()
        db.close()


class PostgresBackend(Backend):
    name, refused = "postgresql", psycopg.errors.RaiseException

    def __init__(self, url: str):
        self.url = url

    def execute(self, sql: str, *args: object) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as db:
            cur = db.execute(sql.replace("?", "%s"), args)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def tamper(self, seq: int, body: str | None = None, digest: str | None = None) -> None:
        with psycopg.connect(self.url) as db:  # one transaction: the trigger is never seen missing
            db.execute("ALTER TABLE events DISABLE TRIGGER events_no_update")
            db.execute(
                "UPDATE events SET body = coalesce(%s, body), digest = coalesce(%s, digest) WHERE seq = %s", (body, digest, seq)
            )
            db.execute("ALTER TABLE events ENABLE TRIGGER events_no_update")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield SqliteBackend(tmp_path)
        return
    name = create_database()
    yield PostgresBackend(database_url(name))
    drop_database(name)


def write(backend: Backend, *events) -> None:
    log = backend.open()
    log.append_many(events)
    log.close()


def types(log: EventLog, **kwargs) -> list[tuple[int, str]]:
    return [(seq, record.type) for seq, record in log.read(**kwargs)]


def test_events_come_back_in_append_order_numbered_from_one_without_gaps(backend):
    log = backend.open()
    assert [log.append(e) for e in (pool(), submitted())] == [1, 2]
    assert log.append_many([planned()]) == [3]
    assert types(log) == [(1, "PoolStarted"), (2, "SequenceSubmitted"), (3, "ShotsPlanned")]
    assert types(log, after=2) == [(3, "ShotsPlanned")]
    assert types(log, sequence_id=SID) == [(2, "SequenceSubmitted"), (3, "ShotsPlanned")]
    assert types(log, limit=2) == [(1, "PoolStarted"), (2, "SequenceSubmitted")]
    log.close()


def test_reading_pages_through_a_log_longer_than_one_page(backend):
    log = backend.open()
    log.append_many([submitted()] * 2500)
    assert [seq for seq, _ in log.read(after=10)] == list(range(11, 2501))
    assert [seq for seq, _ in log.read(after=990, limit=1200)] == list(range(991, 2191))
    log.close()


def test_a_reopened_log_replays_to_the_same_state(backend):
    write(backend, pool(), submitted(), planned())
    first = backend.open()
    before = replay([e for _, e in first.read()])
    first.close()
    again = backend.open()
    assert replay([e for _, e in again.read()]) == before and before.sequences
    again.close()


@pytest.mark.parametrize("statement", ["UPDATE events SET type = 'x'", "DELETE FROM events", "UPDATE quarantine SET reason = 'x'"])
def test_the_database_itself_refuses_to_update_or_delete_a_record(backend, statement):
    write(backend, pool(), submitted())
    if statement.startswith("UPDATE quarantine"):
        backend.tamper(2, body='{"cut')  # a torn last record, so the quarantine holds a row
        backend.open().close()
    with pytest.raises(backend.refused, match="append-only"):
        backend.execute(statement)
    assert len(backend.rows()) == (2 if "quarantine" not in statement else 1)


def test_every_record_keeps_the_sha256_of_its_body(backend):
    write(backend, pool(), submitted(), planned())
    stored = backend.rows()
    assert len(stored) == 3
    assert all(digest == hashlib.sha256(body.encode()).hexdigest() for _, _, _, body, digest in stored)


def test_an_altered_record_of_a_sequence_is_read_as_unreadable_not_folded(backend):
    write(backend, pool(), submitted(), planned())
    body = backend.rows()[1][3]
    backend.tamper(2, body=body.replace("sq010", "sq999"))
    log = backend.open()
    records = dict(log.read())
    assert isinstance(records[2], Unreadable) and records[2].reason == "event 2 does not match its digest"
    assert (records[2].sequence_id, records[2].record_type) == (SID, "SequenceSubmitted")
    assert records[3].type == "ShotsPlanned" and log.quarantined() == []
    log.close()


def test_an_altered_record_of_the_farm_itself_stops_the_read(backend):
    write(backend, pool(), submitted())
    backend.tamper(1, body=backend.rows()[0][3].replace("{", "{ ", 1))
    log = backend.open()
    with pytest.raises(LogCorrupt, match="event 1 does not match its digest"):
        list(log.read())
    log.close()


@pytest.mark.parametrize(
    "damage, why",
    [({"body": '{"type": "ShotsPl'}, "not a complete JSON document"), ({"digest": "0f3a9c"}, "digest is not a sha256")],
    ids=["half-written body", "cut-off digest"],
)
def test_a_torn_last_record_is_set_aside_with_a_warning_and_its_position_never_reused(backend, caplog, damage, why):
    write(backend, pool(), submitted(), planned())
    torn = backend.rows()[2]
    backend.tamper(3, **damage)
    with caplog.at_level(logging.WARNING):
        log = backend.open()
    assert any("seq 3" in r.getMessage() and why in r.getMessage() for r in caplog.records)
    assert types(log) == [(1, "PoolStarted"), (2, "SequenceSubmitted")]
    [(seq, reason, _)] = log.quarantined()
    assert seq == 3 and why in reason
    assert backend.rows("quarantine")[0][:3] == torn[:3]
    assert log.append(planned()) == 4
    log.close()


def test_a_torn_record_that_is_not_the_last_is_not_dropped(backend):
    write(backend, pool(), submitted(), planned())
    backend.tamper(2, body='{"type": "SequenceSubm')
    log = backend.open()
    records = dict(log.read())
    assert isinstance(records[2], Unreadable) and log.quarantined() == []
    log.close()


def test_a_batch_is_one_transaction_others_see_all_of_it_or_none(backend):
    log = backend.open()
    log.append(pool())
    with log.batch():
        log.append(submitted())
        log.append(planned())
        reader = open_records(backend.url)
        assert [r[0] for r in reader.rows()] == [1]  # not committed yet: no other connection sees it
        reader.close()
    reader = open_records(backend.url)
    assert [r[0] for r in reader.rows()] == [1, 2, 3]
    reader.close()
    log.close()


def test_a_batch_the_log_cannot_write_leaves_nothing_and_issues_no_position(backend):
    log = backend.open()
    log.append(pool())
    with pytest.raises(LogWriteFailed):
        with log.batch():
            log.append(submitted())
            raise LogWriteFailed("the disk is full")
    assert types(log) == [(1, "PoolStarted")]
    assert log.append(submitted()) == 2  # no gap where the failed batch was
    log.close()


def test_what_a_batch_appended_before_an_error_of_the_callers_own_is_kept(backend):
    log = backend.open()
    with pytest.raises(KeyError):
        with log.batch():
            log.append(pool())
            raise KeyError("a bug in the caller, after the fact was decided")
    assert types(log) == [(1, "PoolStarted")]
    log.close()


def test_log_verify_reads_either_log_and_finds_it_consistent(backend, tmp_path):
    write(backend, pool(), submitted(), planned())
    open_store(str(tmp_path / "store"))
    report = verify(backend.url, str(tmp_path / "store"))
    assert report.ok and report.records == 3, report.lines()


def test_log_verify_names_an_altered_record(backend, tmp_path):
    write(backend, pool(), submitted(), planned())
    backend.tamper(2, body=backend.rows()[1][3].replace("sq010", "sq999"))
    report = verify(backend.url, str(tmp_path))
    assert not report.ok and any(f.seq == 2 and "does not match its digest" in f.what for f in report.findings)


def test_a_postgresql_log_has_one_owner_at_a_time(pg_url):
    owner = open_log(pg_url, own_timeout=0)
    with pytest.raises(LogOwned, match="another shotfarm coordinator owns"):
        open_log(pg_url, own_timeout=0.5)
    owner.close()  # the server lets go of the owner's lock with its connection
    successor = open_log(pg_url, own_timeout=5)
    successor.append(pool())
    successor.close()


def test_a_postgresql_log_that_cannot_be_reached_is_a_clear_error_without_the_password():
    with pytest.raises(ValueError, match=r"postgresql://shotfarm:\*\*\*@127.0.0.1:1/x: cannot open") as e:
        open_log("postgresql://shotfarm:hunter2@127.0.0.1:1/x")
    assert "hunter2" not in str(e.value)


def test_a_deposed_postgresql_leader_cannot_append_once_its_lease_ran_out_or_was_taken(pg_url):
    from orchestrator.eventlog.lease import Lease
    from orchestrator.eventlog.postgres import LogFenced

    open_log(pg_url).close()  # the schema
    first = Lease(pg_url, address="http://first:8470", ttl=1.0)
    token = first.wait(timeout=5)
    leader = open_log(pg_url, fence=token)
    assert leader.append(pool()) == 1
    second = Lease(pg_url, address="http://second:8470", ttl=30.0)
    assert second.try_take() is None and second.leader().address == "http://first:8470"  # type: ignore[union-attr]
    assert second.wait(timeout=10) == token + 1  # the first stopped renewing: its lease ran out
    with pytest.raises(LogFenced, match="was taken over"):
        leader.append(submitted())
    successor = open_log(pg_url, fence=token + 1)
    assert successor.append(submitted()) == 2
    assert types(successor) == [(1, "PoolStarted"), (2, "SequenceSubmitted")]
    for closing in (leader, successor, first, second):
        closing.close() if hasattr(closing, "close") else closing.release()
