"""The append-only event log: SQLite in WAL mode with synchronous=FULL.

Every event is committed (and fsynced by SQLite) before the coordinator acts
on it, so after a crash the log holds everything that was decided, and
replaying it puts the farm back where it was. Rows are never updated or
deleted; triggers refuse both. Each row keeps the sha256 of its body so a
damaged record is caught on read instead of folded into state.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from orchestrator.core.events import Event, event_from_json

_SCHEMA = """
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
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
"""


class LogCorrupt(RuntimeError):
    pass


class SqliteEventLog:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def append(self, event: Event) -> int:
        body = event.model_dump_json()
        digest = hashlib.sha256(body.encode()).hexdigest()
        cur = self._db.execute(
            "INSERT INTO events (sequence_id, type, body, digest) VALUES (?, ?, ?, ?)",
            (event.sequence_id, event.type, body, digest),
        )
        return int(cur.lastrowid or 0)

    def read(self, after: int = 0, sequence_id: str | None = None) -> Iterator[tuple[int, Event]]:
        query = "SELECT seq, body, digest FROM events WHERE seq > ?"
        args: tuple = (after,)
        if sequence_id is not None:
            query += " AND sequence_id = ?"
            args += (sequence_id,)
        for seq, body, digest in self._db.execute(query + " ORDER BY seq", args).fetchall():
            if hashlib.sha256(body.encode()).hexdigest() != digest:
                raise LogCorrupt(f"{self.path}: event {seq} does not match its digest")
            yield seq, event_from_json(body)

    def close(self) -> None:
        self._db.close()


class MemoryEventLog:
    """The same contract in memory, for unit tests and the simulator."""

    def __init__(self) -> None:
        self._events: list[Event] = []

    def append(self, event: Event) -> int:
        self._events.append(event)
        return len(self._events)

    def read(self, after: int = 0, sequence_id: str | None = None) -> Iterator[tuple[int, Event]]:
        for i, e in enumerate(self._events[after:], start=after + 1):
            if sequence_id is None or e.sequence_id == sequence_id:
                yield i, e

    def close(self) -> None:
        pass
