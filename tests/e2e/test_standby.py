"""Two `shotfarm serve` on one PostgreSQL log: one leads, the other waits and takes over.

Real processes, a real PostgreSQL server, real signals: the leader is killed
with SIGKILL mid-render (the standby takes over, replays, and the master is
byte-identical to an uninterrupted run), or paused with SIGSTOP past its
lease and resumed (it is refused and stops itself). The 15 s takeover bound
is the farm's promise to operators (a lease of 5 s, polled every 0.5 s),
measured from the kill to the standby's word that it leads.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from bench.chaos import master_differences
from orchestrator.eventlog.verify import verify
from tests.api.support import DEMO, TOKENS, bearer
from tests.e2e.test_postgres_log import (
    clean_master,  # noqa: F401
    count,
    recorded_twice,
)
from tests.e2e.test_resume_after_sigkill import master_bytes, spec_path  # noqa: F401
from tests.pg_fixtures import pg_url  # noqa: F401
from tests.serving import wait_until_healthy

pytestmark = pytest.mark.slow
TAKEOVER_BOUND = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    def __init__(self, name: str, tmp: Path, log: str, store: Path):
        self.port, self.output = free_port(), tmp / f"{name}.out"
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, SHOTFARM_TOKENS=TOKENS, RAY_ADDRESS="local", RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1")
        argv = ["serve", "--out", str(tmp / name), "--store", str(store), "--log", log, "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.interfaces.cli", *argv, "--cpus", "2", "--chunk-frames", "2"],
            stdout=self.output.open("w"), stderr=subprocess.STDOUT, start_new_session=True, env=env,
        )  # fmt: skip

    def said(self, text: str) -> bool:
        return text in self.output.read_text()

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, headers=bearer(DEMO), timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def until(ready, what: str, bound: float = 600) -> float:
    """Poll until `ready()`; the seconds it took. `bound` only keeps a broken run from hanging."""
    started = time.monotonic()
    while not ready():
        assert time.monotonic() - started < bound, f"{what} did not happen"
        time.sleep(0.1)
    return time.monotonic() - started


def answers(serve: Serve, status: int) -> bool:
    try:
        return serve.get("/healthz").status_code == status
    except httpx.TransportError:
        return False


@pytest.fixture
def pair(tmp_path, pg_url) -> Iterator[tuple[Serve, Serve, Path]]:
    store = tmp_path / "store"
    leader = Serve("first", tmp_path, pg_url, store)
    wait_until_healthy(leader.proc, leader.url + "/healthz")
    assert answers(leader, 200), leader.output.read_text()
    standby = Serve("second", tmp_path, pg_url, store)
    until(lambda: answers(standby, 503), "the standby answering")
    yield leader, standby, store
    for serve in (leader, standby):
        serve.stop()


def submit(serve: Serve, spec_path: Path) -> None:
    answer = httpx.post(serve.url + "/v1/sequences", json=yaml.safe_load(spec_path.read_text()), headers=bearer(DEMO), timeout=60)
    assert answer.status_code in (200, 201, 202), answer.text


def test_a_standby_says_where_the_leader_is(pair):
    leader, standby, _ = pair
    answer = standby.get("/v1/sequences")
    assert answer.status_code == 503 and answer.headers["X-Shotfarm-Leader"] == leader.url
    assert answer.json()["leader"] == leader.url and "standby" in answer.json()["detail"]
    assert leader.get("/v1/sequences").status_code == 200


def test_the_standby_takes_over_a_killed_leader_and_the_master_is_as_if_nothing_happened(clean_master, pair, spec_path, pg_url):
    leader, standby, store = pair
    submit(leader, spec_path)
    until(lambda: count(pg_url, "ChunkRendered") >= 2, "two chunks rendered")
    os.killpg(leader.proc.pid, signal.SIGKILL)
    took = until(lambda: standby.said("took over as the farm's leader"), "the takeover", bound=120)
    print(f"failover: the standby led {took:.1f} s after the leader was killed")
    assert took <= TAKEOVER_BOUND
    until(lambda: count(pg_url, "SequenceCompleted") >= 1, "the sequence completing")
    assert answers(standby, 200) and standby.get("/v1/sequences").status_code == 200
    assert master_differences(master_bytes(store), clean_master) == []
    assert recorded_twice(pg_url) == []
    assert verify(pg_url, str(store)).ok


def test_a_leader_paused_past_its_lease_is_refused_when_it_resumes_and_stops(clean_master, pair, spec_path, pg_url):
    leader, standby, store = pair
    submit(leader, spec_path)
    until(lambda: count(pg_url, "ChunkRendered") >= 1, "a chunk rendered")
    os.killpg(leader.proc.pid, signal.SIGSTOP)  # the whole farm of the leader: its Ray processes too
    until(lambda: standby.said("took over as the farm's leader"), "the takeover", bound=120)
    os.killpg(leader.proc.pid, signal.SIGCONT)
    until(lambda: leader.proc.poll() is not None, "the deposed leader stopping", bound=300)
    assert leader.said("was taken over"), leader.output.read_text()[-3000:]
    until(lambda: count(pg_url, "SequenceCompleted") >= 1, "the sequence completing")
    assert master_differences(master_bytes(store), clean_master) == []
    assert recorded_twice(pg_url) == []
    assert verify(pg_url, str(store)).ok
