"""Who leads a PostgreSQL log: a lease row with a fencing token, held in the database itself.

One process leads (its coordinator appends); others wait as standbys. The
leader renews its lease every third of its time to live; a leader that stops
(killed, paused, cut off) stops renewing, and once the lease has run out a
standby takes it, and the token goes up by one. Every append checks, inside
its own transaction, that the token it was given is still the lease's and
the lease has not run out (eventlog.postgres), holding the lease row FOR
SHARE until it commits: a taker's UPDATE waits for that commit, so a new
leader that replays after taking the lease sees everything the old one
committed, and the old one, paused past its lease and resumed, is refused
on its next append.

Times are the database's own clock (`now()`), so the machines' clocks need not agree.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from orchestrator.eventlog.base import LogUnreadable, redact

log = logging.getLogger(__name__)

NAME = "coordinator"
TTL = 5.0
"""Seconds a lease lasts unless renewed: a standby takes over this long after the leader stops (plus one poll)."""

SCHEMA = """CREATE TABLE IF NOT EXISTS lease (
    name text PRIMARY KEY,
    holder text NOT NULL,
    token bigint NOT NULL CHECK (token > 0),
    expires timestamptz NOT NULL,
    address text NOT NULL DEFAULT '')"""

_TAKE = """INSERT INTO lease (name, holder, token, expires, address)
    VALUES (%(name)s, %(holder)s, 1, now() + make_interval(secs => %(ttl)s), %(address)s)
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = lease.token + 1,
        expires = excluded.expires, address = excluded.address
    WHERE lease.expires < now()
    RETURNING token"""
_RENEW = "UPDATE lease SET expires = now() + make_interval(secs => %s) WHERE name = %s AND token = %s RETURNING token"
_RELEASE = "UPDATE lease SET expires = now() WHERE name = %s AND token = %s"
FENCE = "SELECT token, expires > now() FROM lease WHERE name = %s FOR SHARE"
"""What every append checks, in its transaction: (the token now, whether the lease still runs)."""


@dataclass(frozen=True)
class Leader:
    holder: str
    token: int
    address: str
    expires_in: float


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """This process's claim on a log's lease: take it (or wait for it), keep it, let it go."""

    def __init__(self, url: str, address: str = "", ttl: float = TTL, holder: str | None = None):
        self.url, self.address, self.ttl = url, address, ttl
        self.holder = holder or holder_name()
        self.token: int | None = None
        self._db = connect(url, application_name="shotfarm lease")
        self._db.execute(SCHEMA)
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    def try_take(self) -> int | None:
        row = self._db.execute(_TAKE, dict(name=NAME, holder=self.holder, ttl=self.ttl, address=self.address)).fetchone()
        self.token = int(row[0]) if row else None
        return self.token

    def leader(self) -> Leader | None:
        row = self._db.execute(
            "SELECT holder, token, address, extract(epoch FROM expires - now()) FROM lease WHERE name = %s", (NAME,)
        ).fetchone()
        return Leader(row[0], int(row[1]), row[2], float(row[3])) if row else None

    def wait(self, timeout: float | None = None, poll: float = 0.5, waiting: Callable[[Leader | None], None] = lambda _: None) -> int | None:
        """Take the lease as soon as it is free; its token, or None when `timeout` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (token := self.try_take()) is None:
            if deadline is not None and time.monotonic() > deadline:
                return None
            waiting(self.leader())
            time.sleep(poll)
        return token

    def keep(self, lost: Callable[[], None]) -> None:
        """Renew in the background every third of the lease; `lost()` once the lease is someone else's."""
        token = self.token
        if token is None:
            raise RuntimeError("keep() needs the lease taken first")
        db = psycopg.connect(self.url, autocommit=True, connect_timeout=5)

        def renew() -> None:
            while not self._stop.wait(self.ttl / 3):
                try:
                    if db.execute(_RENEW, (self.ttl, NAME, token)).fetchone() is None:
                        log.error("the lease on the event log was taken over (token %d is no longer current)", token)
                        lost()
                        return
                except psycopg.Error as e:  # the server is away: the lease runs out, appends are refused
                    log.warning("could not renew the lease on the event log: %s", str(e).strip())
            db.close()

        self._keeper = threading.Thread(target=renew, name="shotfarm-lease", daemon=True)
        self._keeper.start()

    def release(self) -> None:
        """Let go at once (a clean stop), so that a standby need not wait for the lease to run out."""
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join(timeout=self.ttl)
        if self.token is not None:
            try:
                self._db.execute(_RELEASE, (NAME, self.token))
            except psycopg.Error:
                pass  # it runs out on its own
        self._db.close()


def connect(url: str, **kwargs) -> psycopg.Connection:
    """A connection to the log's server; LogUnreadable naming it (password hidden) when there is none."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10, **kwargs)
    except psycopg.Error as e:
        raise LogUnreadable(f"{redact(url)}: cannot open the PostgreSQL event log ({str(e).strip()[:300]})") from None
    except ValueError as e:  # a URL psycopg cannot parse
        raise LogUnreadable(f"{redact(url)}: not a PostgreSQL URL ({e})") from None
