"""Where an event log lives, and opening it there: SQLite for a path, PostgreSQL for a postgresql:// URL.

Kept apart from the protocols (eventlog.base) so the logs themselves never
import what chooses between them. The CLI reads `--log` through here, so the
concrete logs are imported only when one is opened.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.eventlog.base import POSTGRES_SCHEMES, EventLog, LogRecords, redact


def is_server_log(url: str | Path) -> bool:
    return str(url).startswith(POSTGRES_SCHEMES)


def describe(url: str | Path) -> str:
    """The log's location for messages and start lines: a server URL without its password."""
    if not is_server_log(url):
        return str(url)
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
