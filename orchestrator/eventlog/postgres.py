"""The append-only event log on PostgreSQL, the same contract as the SQLite log.

For a farm whose coordinator must survive its machine: the log lives on a
server that a standby coordinator, the API and backups all reach. Every
append is committed before the coordinator acts on it; a batch is one
transaction (one WAL flush). Triggers refuse UPDATE, DELETE and TRUNCATE.
Each row keeps the sha256 of its body, checked on read.

Positions are handed out by the one writer inside its transaction, under a
transaction-scoped advisory lock, from the highest position ever issued (the
events and the quarantine together): a batch rolled back issues nothing, so
positions rise without gaps in commit order, as SQLite's AUTOINCREMENT does,
and `log verify`'s gap check means the same on both. One coordinator leads
at a time through a lease row with a fencing token (eventlog.lease), checked
in every append transaction: a coordinator whose lease ran out or was taken
over cannot append (LogFenced), whatever it still believes.

A torn last record is set aside into `quarantine` on open exactly as the
SQLite log does it (see sqlite.py); PostgreSQL's own writes are atomic, so
such a record only comes from a restored or hand-edited database, but the
rule is the log's, not the engine's.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import psycopg

from orchestrator.core.events import Event, Record
from orchestrator.eventlog import lease as leases
from orchestrator.eventlog.base import NoLogYet, RawRow, redact
from orchestrator.eventlog.lease import connect as _connect
from orchestrator.eventlog.sqlite import LogOwned, LogWriteFailed, body_digest, paged_records, paged_rows, torn_reason

log = logging.getLogger(__name__)

_APPEND_KEY = 0x5F0A_A99D  # the transaction lock every append transaction holds until it commits
_SCHEMA_KEY = 0x5F0A_5C3A
_PAGE = 1000
_NO_DELETE = "CREATE OR REPLACE TRIGGER events_no_delete BEFORE DELETE ON events FOR EACH ROW EXECUTE FUNCTION shotfarm_append_only('event log')"
_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS events (
        seq bigint PRIMARY KEY CHECK (seq > 0),
        sequence_id text NOT NULL,
        type text NOT NULL,
        body text NOT NULL,
        digest text NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS events_by_sequence ON events (sequence_id, seq)",
    """CREATE TABLE IF NOT EXISTS quarantine (
        seq bigint PRIMARY KEY, sequence_id text, type text, body text, digest text,
        reason text NOT NULL, at double precision NOT NULL)""",
    """CREATE OR REPLACE FUNCTION shotfarm_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the % is append-only', TG_ARGV[0]; END $$""",
    "CREATE OR REPLACE TRIGGER events_no_update BEFORE UPDATE ON events FOR EACH ROW EXECUTE FUNCTION shotfarm_append_only('event log')",
    _NO_DELETE,
    "CREATE OR REPLACE TRIGGER events_no_truncate BEFORE TRUNCATE ON events EXECUTE FUNCTION shotfarm_append_only('event log')",
    "CREATE OR REPLACE TRIGGER quarantine_no_update BEFORE UPDATE OR DELETE ON quarantine FOR EACH ROW EXECUTE FUNCTION shotfarm_append_only('quarantine')",
    "CREATE OR REPLACE TRIGGER quarantine_no_truncate BEFORE TRUNCATE ON quarantine EXECUTE FUNCTION shotfarm_append_only('quarantine')",
    leases.SCHEMA,
]
_HEAD = "SELECT greatest((SELECT max(seq) FROM events), (SELECT max(seq) FROM quarantine), 0)"


def probe(url: str) -> None:
    """Connect once and let go: LogUnreadable with the server's own words when it cannot be reached."""
    _connect(url, application_name="shotfarm probe").close()


class LogFenced(LogWriteFailed):
    """This coordinator's lease ran out or was taken over: it may no longer append."""


class PostgresEventLog:
    """The log for appending. `fence`: the lease token this farm's leader holds (serve takes it);
    else with `own_timeout` the log takes and keeps the lease itself (a render), else no lease (tools, tests)."""

    def __init__(self, url: str, own_timeout: float | None = None, fence: int | None = None):
        self.url, self.where = url, redact(url)
        self._db = _connect(url, application_name="shotfarm coordinator")
        self._lease: leases.Lease | None = None
        self._fence = fence
        try:
            with self._db.transaction():
                self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_KEY,))
                for statement in _SCHEMA:
                    self._db.execute(statement)
            if fence is None and own_timeout is not None:
                self._own(own_timeout)
            self._drop_torn_tail()
        except BaseException:
            self.close()
            raise
        self._batching = False
        self._next = 0

    def _own(self, timeout: float) -> None:
        self._lease = leases.Lease(self.url)
        self._fence = self._lease.wait(timeout)
        if self._fence is None:
            leader = self._lease.leader()
            where = f" ({leader.holder}{', ' + leader.address if leader.address else ''})" if leader else ""
            raise LogOwned(f"{self.where}: another shotfarm coordinator owns this event log{where}")
        self._lease.keep(lost=lambda: None)  # a lost lease shows on the next append, which is refused

    def _drop_torn_tail(self) -> None:
        with self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_APPEND_KEY,))
            row = self._db.execute("SELECT seq, sequence_id, type, body, digest FROM events ORDER BY seq DESC LIMIT 1").fetchone()
            if row is None:
                return
            seq, sequence_id, type_, body, digest = row
            reason = torn_reason(body, digest) if body_digest(body) != digest else None
            if reason is None or seq != self._db.execute(_HEAD).fetchone()[0]:  # type: ignore[index]
                return  # intact, altered rather than torn, or not the last ever written: read() says so
            # The one DELETE past the append-only trigger, as in the SQLite log: dropping
            # and recreating the trigger in the same transaction (PostgreSQL's DDL is
            # transactional) means no other session ever sees the log without it.
            self._db.execute(
                "INSERT INTO quarantine (seq, sequence_id, type, body, digest, reason, at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (seq, sequence_id, type_, body, digest, f"torn last record: {reason}", time.time()),
            )
            self._db.execute("DROP TRIGGER events_no_delete ON events")
            self._db.execute("DELETE FROM events WHERE seq = %s", (seq,))
            self._db.execute(_NO_DELETE)
        log.warning(
            "%s: the last event (seq %d, %s) was torn (%s); it was moved to the quarantine table "
            "and the farm goes on as if the crash had come just before it",
            self.where, seq, type_, reason,
        )  # fmt: skip

    def append(self, event: Event) -> int:
        """Append one event: committed at once, or with its batch when inside `batch()`."""
        with self.batch():
            body = event.model_dump_json()
            digest = hashlib.sha256(body.encode()).hexdigest()
            seq = self._next
            try:
                self._db.execute(
                    "INSERT INTO events (seq, sequence_id, type, body, digest) VALUES (%s, %s, %s, %s, %s)",
                    (seq, event.sequence_id, event.type, body, digest),
                )
            except psycopg.Error as e:
                raise LogWriteFailed(f"{self.where}: {str(e).strip()}") from e
            self._next += 1
            return seq

    def append_many(self, events: Iterable[Event]) -> list[int]:
        """Append events in one transaction; their positions, in order."""
        with self.batch():
            return [self.append(e) for e in events]

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Appends inside join one transaction, committed on leaving (SqliteEventLog.batch's rules)."""
        if self._batching:
            yield
            return
        try:
            self._db.execute("BEGIN")
            self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_APPEND_KEY,))
            self._check_fence()
            self._next = int(self._db.execute(_HEAD).fetchone()[0]) + 1  # type: ignore[index]
        except LogFenced:
            self._rollback()
            raise
        except psycopg.Error as e:
            self._rollback()
            raise LogWriteFailed(f"{self.where}: a batch could not begin: {str(e).strip()}") from e
        self._batching = True
        try:
            yield
        except LogWriteFailed:
            self._batching = False
            self._rollback()
            raise
        except BaseException:
            self._batching = False
            self._commit()
            raise
        self._batching = False
        self._commit()

    def _check_fence(self) -> None:
        """Inside the append transaction: is this coordinator's token still the lease's, and the lease running?

        The lease row stays locked FOR SHARE until this transaction ends, so a
        standby taking over waits for the commit and then replays it.
        """
        if self._fence is None:
            return
        row = self._db.execute(leases.FENCE, (leases.NAME,)).fetchone()
        if row is None or row[0] != self._fence or not row[1]:
            now = f"token {row[0]}" if row else "no lease"
            raise LogFenced(
                f"{self.where}: this coordinator's lease (token {self._fence}) "
                f"{'ran out' if row and row[0] == self._fence else 'was taken over'} ({now}); it may not append"
            )

    def _rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except psycopg.Error:
            pass  # the connection is gone, and the server rolled the transaction back with it

    def _commit(self) -> None:
        try:
            self._db.execute("COMMIT")
        except psycopg.Error as e:
            self._rollback()
            raise LogWriteFailed(f"{self.where}: the batch could not be committed: {str(e).strip()}") from e

    def read(self, after: int = 0, sequence_id: str | None = None, limit: int | None = None) -> Iterator[tuple[int, Record]]:
        """Records after a position, in order: events, and an Unreadable for any that is not one (as SqliteEventLog.read)."""
        query = "SELECT seq, sequence_id, type, body, digest FROM events WHERE seq > %s"
        args: tuple = ()
        if sequence_id is not None:
            query += " AND sequence_id = %s"
            args = (sequence_id,)
        query += " ORDER BY seq LIMIT %s"
        return paged_records(lambda start, page: self._db.execute(query, (start, *args, page)).fetchall(), after, limit, self.where, _PAGE)

    def quarantined(self) -> list[tuple[int, str, float]]:
        rows = self._db.execute("SELECT seq, reason, at FROM quarantine ORDER BY seq").fetchall()
        return [(int(s), str(r), float(a)) for s, r, a in rows]

    def close(self) -> None:
        if self._lease is not None:
            self._lease.release()
            self._lease = None
        self._db.close()


class PostgresRecords:
    """A PostgreSQL log opened read-only (`log verify`, the quote's history): every statement in a read-only session."""

    def __init__(self, url: str):
        self.where = redact(url)
        self._db = _connect(url, application_name="shotfarm reader", options="-c default_transaction_read_only=on")
        if self._db.execute("SELECT to_regclass('events')").fetchone()[0] is None:  # type: ignore[index]
            self._db.close()
            raise NoLogYet(f"{self.where}: not a shotfarm event log (no events table)")
        self._has_quarantine = self._db.execute("SELECT to_regclass('quarantine')").fetchone()[0] is not None  # type: ignore[index]

    def rows(self) -> Iterator[RawRow]:
        query = "SELECT seq, sequence_id, type, body, digest FROM events WHERE seq > %s ORDER BY seq LIMIT %s"
        return paged_rows(lambda after, page: self._db.execute(query, (after, page)).fetchall(), _PAGE)

    def quarantine(self) -> list[tuple[int, str, str]]:
        if not self._has_quarantine:
            return []
        return [(int(s), str(t), str(r)) for s, t, r in self._db.execute("SELECT seq, type, reason FROM quarantine ORDER BY seq")]

    def last_issued(self) -> int:
        head = _HEAD if self._has_quarantine else "SELECT coalesce(max(seq), 0) FROM events"
        return int(self._db.execute(head).fetchone()[0])  # type: ignore[index]

    def damage(self) -> str | None:
        return None  # PostgreSQL checks its own pages (and refuses to serve a damaged one)

    def close(self) -> None:
        self._db.close()
