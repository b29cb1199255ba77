"""The append-only event log: SQLite in WAL mode with synchronous=FULL.

Every event is committed (and fsynced by SQLite) before the coordinator acts
on it, so after a crash the log holds everything that was decided, and
replaying it puts the farm back where it was. Events that arrive together
are committed together: inside `batch()` appends join one transaction, and
one fsync makes all of them durable at once (group commit). The coordinator
acts on none of them until the batch has been committed. Rows are never updated or
deleted; triggers refuse both. Each row keeps the sha256 of its body so a
damaged record is caught on read instead of folded into state.

One exception, made on open and nowhere else: a torn LAST record (the last
one ever written, whose body is not a complete JSON document or whose digest
is not a digest at all: the marks a write cut short leaves) is moved to the
`quarantine` table with a warning. Dropping it is safe because it is the
last: the farm is then exactly where it would be had the crash come just
before that append, and a restart re-derives whatever followed. Anything
else that fails its digest (a record that is not the last, or a complete
record whose bytes were altered) raises LogCorrupt on read: the log must
never lose a fact silently.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from orchestrator.core.events import FARM, Event, Record, Unreadable, event_from_json

log = logging.getLogger(__name__)

_NO_DELETE = """CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;"""

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sequence_id TEXT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    digest TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_sequence ON events (sequence_id, seq);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
{_NO_DELETE}
CREATE TABLE IF NOT EXISTS quarantine (
    seq INTEGER PRIMARY KEY,
    sequence_id TEXT,
    type TEXT,
    body BLOB,
    digest TEXT,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TRIGGER IF NOT EXISTS quarantine_no_update BEFORE UPDATE ON quarantine
    BEGIN SELECT RAISE(ABORT, 'the quarantine is append-only'); END;
CREATE TRIGGER IF NOT EXISTS quarantine_no_delete BEFORE DELETE ON quarantine
    BEGIN SELECT RAISE(ABORT, 'the quarantine is append-only'); END;
"""

LOG_NAME = "shotfarm.db"
"""The log's file name inside an output folder (the embedded farm's, `serve`'s, `log verify`'s)."""
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_PAGE = 1000


class LogCorrupt(RuntimeError):
    pass


class LogWriteFailed(RuntimeError):
    """A batch could not be written: nothing of it is in the log."""


class LogOwned(RuntimeError):
    """Another process holds the log (a running farm); the message names the lock file."""


def own_log(lock_path: str | Path, timeout: float) -> int:
    """Take the one-writer lock beside a log, waiting up to `timeout` s; returns the fd that holds it.

    One coordinator per log: a successor (a restart after a crash) waits until
    the old one has gone. Closing the fd (or the process ending) lets go.
    """
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise LogOwned(f"{lock_path}: another shotfarm process is still using this output folder") from None
            time.sleep(0.2)


def body_digest(body: object) -> str | None:
    """sha256 of a stored body, or None when the stored value is not text at all."""
    if isinstance(body, bytes):
        try:
            body = body.decode()
        except UnicodeDecodeError:
            return None
    return hashlib.sha256(body.encode()).hexdigest() if isinstance(body, str) else None


def torn_reason(body: object, digest: object) -> str | None:
    """Why a record that fails its digest looks torn (cut short), or None if it looks altered.

    A write cut short leaves a body that is not one complete JSON document,
    or a digest that is not 64 hex digits. A complete event under a
    well-formed digest that does not match it was changed after it was
    written, which no crash does: that is corruption, not a torn write.
    """
    if not isinstance(digest, str) or not _SHA256.match(digest):
        return f"its digest is not a sha256 ({str(digest)[:20]!r})"
    try:
        text = body.decode() if isinstance(body, bytes) else body
        json.loads(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return "its body is not a complete JSON document"
    return None


def parse_record(seq: int, body: object, digest: object) -> tuple[Event | None, str | None]:
    """(the event, None) when the record matches its digest and parses as an event, else (None, what is wrong)."""
    if body_digest(body) != digest:
        return None, f"event {seq} does not match its digest"
    try:
        return event_from_json(body), None  # type: ignore[arg-type]
    except ValidationError as e:
        return None, f"event {seq} is not an event this version understands ({e.error_count()} problem(s))"

def paged_records(
    fetch: Callable[[int, int], list[tuple]], after: int, limit: int | None, where: str, page_size: int = _PAGE
) -> Iterator[tuple[int, Record]]:
    """The records `fetch(after, page)` hands out a page at a time, parsed and checked against their digests.

    Every log reads the same way: a damaged record of a sequence is an
    Unreadable for that sequence (replay sets it aside, core.isolation), a
    damaged record of the farm itself raises LogCorrupt.
    """
    left = limit
    while left is None or left > 0:
        page = min(page_size, left) if left is not None else page_size
        rows = fetch(after, page)
        for seq, sid, type_, body, digest in rows:
            event, problem = parse_record(seq, body, digest)
            if event is not None:
                yield seq, event
            elif sid == FARM or not isinstance(sid, str):
                raise LogCorrupt(f"{where}: {problem}")
            else:
                yield seq, Unreadable(sequence_id=sid, record_type=str(type_)[:64], reason=problem)
        if len(rows) < page:
            return
        after = rows[-1][0]
        if left is not None:
            left -= len(rows)

def paged_rows(fetch: Callable[[int, int], list[tuple]], page_size: int = _PAGE) -> Iterator[tuple]:
    """Every row `fetch(after, page)` hands out a page at a time, in seq order, nothing parsed."""
    after = 0
    while True:
        page = fetch(after, page_size)
        yield from page
        if len(page) < page_size:
            return
        after = page[-1][0]




class SqliteEventLog:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._drop_torn_tail()
        self._batching = False

    def _drop_torn_tail(self) -> None:
        row = self._db.execute(
            "SELECT seq, sequence_id, type, body, digest FROM events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return
        seq, sequence_id, type_, body, digest = row
        if body_digest(body) == digest:
            return  # intact; whether it parses is read()'s business (LogCorrupt there)
        reason = torn_reason(body, digest)
        if reason is None:
            return  # altered, not torn: read() raises LogCorrupt, nothing is dropped
        if seq != self._last_issued():
            # A later record was written after this one (and set aside since), so
            # this was not the write a crash interrupted: corruption, for read().
            return
        # Moving the row needs one DELETE past the append-only trigger. SQLite
        # DDL is transactional, so dropping and recreating the trigger inside
        # the same IMMEDIATE transaction as the copy and the delete means no
        # other connection ever sees the log without its trigger, and a crash
        # part-way rolls all of it back (the torn record is found again on the
        # next open). The log's end is re-checked under the write lock.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            last = self._db.execute("SELECT max(seq) FROM events").fetchone()[0]
            if last != seq or self._last_issued() != seq:
                raise LogCorrupt(f"{self.path}: the log grew while its torn record {seq} was being set aside")
            self._db.execute(
                "INSERT INTO quarantine (seq, sequence_id, type, body, digest, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (seq, sequence_id, type_, body, digest, f"torn last record: {reason}", time.time()),
            )
            self._db.execute("DROP TRIGGER events_no_delete")
            self._db.execute("DELETE FROM events WHERE seq = ?", (seq,))
            self._db.execute(_NO_DELETE)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        log.warning(
            "%s: the last event (seq %d, %s) was torn (%s); it was moved to the quarantine table "
            "and the farm goes on as if the crash had come just before it",
            self.path,
            seq,
            type_,
            reason,
        )

    def _last_issued(self) -> int:
        """The highest seq ever handed out (AUTOINCREMENT keeps it past deletions)."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return int(row[0]) if row else 0

    def append(self, event: Event) -> int:
        """Append one event: committed at once, or with its batch when inside `batch()`."""
        body = event.model_dump_json()
        digest = hashlib.sha256(body.encode()).hexdigest()
        try:
            cur = self._db.execute(
                "INSERT INTO events (sequence_id, type, body, digest) VALUES (?, ?, ?, ?)",
                (event.sequence_id, event.type, body, digest),
            )
        except sqlite3.Error as e:
            raise LogWriteFailed(f"{self.path}: {e}") from e
        return int(cur.lastrowid or 0)

    def append_many(self, events: Iterable[Event]) -> list[int]:
        """Append events in one transaction (one fsync); their positions, in order."""
        with self.batch():
            return [self.append(e) for e in events]

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Appends inside join one transaction, committed on leaving.

        What was appended before an error in the caller's own code is still
        committed (it was decided, as if appended one by one); an error of
        the log itself rolls the whole batch back and raises LogWriteFailed,
        so the log holds all of a batch or none of it. Nested batches join
        the outer one.
        """
        if self._batching:
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._batching = True
        try:
            yield
        except LogWriteFailed:
            self._batching = False
            self._db.execute("ROLLBACK")
            raise
        except BaseException:
            self._batching = False
            self._commit()
            raise
        self._batching = False
        self._commit()

    def _commit(self) -> None:
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as e:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise LogWriteFailed(f"{self.path}: the batch could not be committed: {e}") from e

    def read(self, after: int = 0, sequence_id: str | None = None, limit: int | None = None) -> Iterator[tuple[int, Record]]:
        """Records after a position, in order: events, and an Unreadable for any that is not one.

        A damaged record of a sequence is handed on as Unreadable so that
        replay sets that sequence aside (core.isolation) and the farm goes
        on; a damaged record of the farm itself raises LogCorrupt. Rows are
        fetched in pages, so no read holds the whole log in memory.
        """
        query = "SELECT seq, sequence_id, type, body, digest FROM events WHERE seq > ?"
        args: tuple = ()
        if sequence_id is not None:
            query += " AND sequence_id = ?"
            args = (sequence_id,)
        query += " ORDER BY seq LIMIT ?"
        return paged_records(lambda start, page: self._db.execute(query, (start, *args, page)).fetchall(), after, limit, str(self.path))

    def quarantined(self) -> list[tuple[int, str, float]]:
        """(seq, reason, when) of every record ever set aside, oldest first."""
        rows = self._db.execute("SELECT seq, reason, at FROM quarantine ORDER BY seq").fetchall()
        return [(int(s), str(r), float(a)) for s, r, a in rows]

    def close(self) -> None:
        self._db.close()


class SqliteRecords:
    """A SQLite log opened read-only (`log verify`, the quote's history): a torn tail is left where it is."""

    def __init__(self, path: Path):
        from orchestrator.eventlog.base import LogUnreadable, NoLogYet

        self.path, self.where = path, str(path)
        if not path.is_file():
            raise NoLogYet(f"{path}: no event log there")
        try:
            self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            self._tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as e:
            raise LogUnreadable(f"{path}: not an SQLite database ({e})") from None
        if "events" not in self._tables:
            self._db.close()
            raise LogUnreadable(f"{path}: not a shotfarm event log (no events table)")

    def rows(self) -> Iterator[tuple[int, object, object, object, object]]:
        query = "SELECT seq, sequence_id, type, body, digest FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
        return paged_rows(lambda after, page: self._db.execute(query, (after, page)).fetchall())

    def quarantine(self) -> list[tuple[int, str, str]]:
        if "quarantine" not in self._tables:
            return []
        return [(int(s), str(t), str(r)) for s, t, r in self._db.execute("SELECT seq, type, reason FROM quarantine ORDER BY seq")]

    def last_issued(self) -> int:
        if "sqlite_sequence" in self._tables:  # AUTOINCREMENT's record of the highest seq ever issued
            row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
            if row:
                return int(row[0])
        row = self._db.execute("SELECT max(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def damage(self) -> str | None:
        integrity = self._db.execute("PRAGMA quick_check").fetchone()[0]
        return None if integrity == "ok" else f"SQLite finds the file damaged: {integrity}"

    def close(self) -> None:
        self._db.close()


def backup(source: str | Path, dest: str | Path) -> Path:
    """Copy a live log, consistent to one committed transaction, into `dest` (a file, or a folder for shotfarm.db).

    SQLite's online backup API reads the source through its own read-only
    connection, so a running farm goes on appending while it copies; the
    copy holds every batch committed before it finished and none in part.
    """
    from orchestrator.eventlog.base import LogUnreadable

    src_path = Path(source)
    if not src_path.is_file():
        raise LogUnreadable(f"{src_path}: no event log there")
    target = Path(dest)
    if target.is_dir():
        target = target / LOG_NAME
    if target.exists():
        raise FileExistsError(f"{target}: already exists; a backup never overwrites a file")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"{target.parent}: no such folder")
    src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True, timeout=30)
    try:
        if "events" not in {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}:
            raise LogUnreadable(f"{src_path}: not a shotfarm event log (no events table)")
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # the copy is one self-contained file, no -wal beside it
        finally:
            dst.close()
    except sqlite3.DatabaseError as e:
        target.unlink(missing_ok=True)
        raise LogUnreadable(f"{src_path}: not an SQLite database ({e})") from None
    finally:
        src.close()
    return target


class MemoryEventLog:
    """The same contract in memory, for unit tests and the simulator."""

    def __init__(self) -> None:
        self._events: list[Event] = []

    def append(self, event: Event) -> int:
        self._events.append(event)
        return len(self._events)

    def append_many(self, events: Iterable[Event]) -> list[int]:
        return [self.append(e) for e in events]

    @contextmanager
    def batch(self) -> Iterator[None]:
        yield  # in memory every append is as durable as it will ever be

    def read(self, after: int = 0, sequence_id: str | None = None, limit: int | None = None) -> Iterator[tuple[int, Record]]:
        n = 0
        for i, e in enumerate(self._events[after:], start=after + 1):
            if limit is not None and n >= limit:
                return
            if sequence_id is None or e.sequence_id == sequence_id:
                n += 1
                yield i, e

    def quarantined(self) -> list[tuple[int, str, float]]:
        return []  # nothing in memory is ever torn

    def close(self) -> None:
        pass
