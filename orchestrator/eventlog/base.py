"""What the farm needs of an event log, and `open_log` choosing where it lives.

Two consumers, two protocols. The coordinator writes: `EventLog` appends
(alone or in a batch, one transaction), replays, and is closed when the farm
stops. `log verify` and the quote's history only read, and read more than
events: the raw stored rows (to check each against its digest), what was set
aside, and the highest position ever issued (to tell a gap from a torn tail):
that is `LogRecords`.

Where the log lives is a URL: a path (the default, SQLite, one file in the
output folder) or `postgresql://user@host:port/db` (a server the coordinator,
a standby and the API can all reach). Both keep the same contract, tested by
one suite against each: the database refuses UPDATE and DELETE, each record
carries the sha256 of its body, replay is in append order, a torn last
record is set aside into a quarantine table, and a batch is all or nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # `--log`'s parsing (the CLI's) stays free of the event models' import
    from orchestrator.core.events import Event, Record

POSTGRES_SCHEMES = ("postgresql://", "postgres://")

RawRow = tuple[int, object, object, object, object]
"""(seq, sequence_id, type, body, digest) exactly as stored: nothing about it is trusted yet."""


class EventLog(Protocol):
    def append(self, event: Event) -> int: ...

    def append_many(self, events: Iterable[Event]) -> list[int]: ...

    def batch(self) -> AbstractContextManager[None]:
        """Appends inside are committed together on leaving (LogWriteFailed: none of them)."""

    def read(self, after: int = 0, sequence_id: str | None = None, limit: int | None = None) -> Iterator[tuple[int, Record]]: ...

    def quarantined(self) -> list[tuple[int, str, float]]: ...

    def close(self) -> None: ...


class LogRecords(Protocol):
    """A log opened to be read only: nothing in it is changed, not even a torn tail."""

    where: str

    def rows(self) -> Iterator[RawRow]:
        """Every stored record, in append order."""

    def quarantine(self) -> list[tuple[int, str, str]]:
        """(seq, type, reason) of every record set aside, oldest first."""

    def last_issued(self) -> int:
        """The highest position ever handed out, set aside or not."""

    def damage(self) -> str | None:
        """What the database itself finds wrong with its storage, or None."""

    def close(self) -> None: ...


def is_server_log(url: str | Path) -> bool:
    return str(url).startswith(POSTGRES_SCHEMES)


def describe(url: str | Path) -> str:
    """The log's location for messages and start lines: a server URL without its password."""
    if not is_server_log(url):
        return str(url)
    from orchestrator.eventlog.postgres import redact

    return redact(str(url))


def open_log(url: str | Path, own_timeout: float | None = None, fence: int | None = None) -> EventLog:
    """The log at `url` opened for appending: SQLite for a path, PostgreSQL for postgresql://.

    A PostgreSQL log appends only under a lease (eventlog.lease): `fence` is
    the token of a lease this farm's leader already holds (`serve`); else with
    `own_timeout` the log takes the lease itself, waiting that long for a
    previous leader's to run out (then LogOwned). A SQLite log's owner holds
    the lock file beside it (`own_log`), which its caller takes first.
    """
    if is_server_log(url):
        from orchestrator.eventlog.postgres import PostgresEventLog

        return PostgresEventLog(str(url), own_timeout=own_timeout, fence=fence)
    from orchestrator.eventlog.sqlite import SqliteEventLog

    return SqliteEventLog(url)


def open_records(url: str | Path) -> LogRecords:
    """The log at `url` opened read-only; ValueError (LogUnreadable) when there is no log there."""
    if is_server_log(url):
        from orchestrator.eventlog.postgres import PostgresRecords

        return PostgresRecords(str(url))
    from orchestrator.eventlog.sqlite import SqliteRecords

    return SqliteRecords(Path(url))


class LogUnreadable(ValueError):
    """There is no event log at that location (bad input, not a finding)."""


class NoLogYet(LogUnreadable):
    """The location is fine but holds no event log yet (a new database, a folder nothing was rendered in)."""


LOG_HELP = "where the event log lives: a file (default: OUT/shotfarm.db) or postgresql://user:password@host:port/database"


def log_location(text: str) -> str:
    """`--log`'s argument: a path, or a postgresql:// URL; anything else with a scheme is refused at parse time."""
    import argparse

    if not text or len(text) > 2048 or any(ord(c) < 32 for c in text):
        raise argparse.ArgumentTypeError("--log: a path or a postgresql:// URL of at most 2048 printable characters")
    if "://" in text and not is_server_log(text):
        raise argparse.ArgumentTypeError(f"--log: {text.split('://')[0]}:// is not a log this farm can use (a path or postgresql://)")
    return text


def reachable(url: str | Path) -> None:
    """Raise LogUnreadable, naming the server, when a PostgreSQL log cannot be reached; a path always passes here."""
    if is_server_log(url):
        from orchestrator.eventlog.postgres import probe

        probe(str(url))
