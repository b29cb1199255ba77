"""What the farm needs of an event log (eventlog.location opens one by where it lives).

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

import re
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
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


class LogUnreadable(ValueError):
    """There is no event log at that location (bad input, not a finding)."""


class NoLogYet(LogUnreadable):
    """The location is fine but holds no event log yet (a new database, a folder nothing was rendered in)."""


def redact(url: str) -> str:
    """A server URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)
