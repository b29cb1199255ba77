"""Whole renders on the PostgreSQL event log: the embedded farm, and a render killed with SIGKILL that resumes.

The same specs as the SQLite tests (test_embedded_render, test_resume_after_sigkill):
the master must come out byte-identical to a clean run on the SQLite log.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from bench.chaos import master_differences
from orchestrator.config.settings import FarmSettings
from orchestrator.core import events as ev
from orchestrator.eventlog.location import open_log
from orchestrator.eventlog.verify import verify
from orchestrator.interfaces.embedded import LOG_NAME, render
from tests.builders import sequence, shot
from tests.e2e.test_resume_after_sigkill import ARGS, finish, kill_when, master_bytes, spec_path  # noqa: F401
from tests.pg_fixtures import pg_url  # noqa: F401


def count(url: str, kind: str) -> int:
    """How many events of a kind are committed now, as any other client of the server sees them."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=2) as db:
            return int(db.execute("SELECT count(*) FROM events WHERE type = %s", (kind,)).fetchone()[0])  # type: ignore[index]
    except psycopg.errors.UndefinedTable:
        return 0  # the coordinator has not made the schema yet


def cli(spec: Path, out: Path, log: str | None = None) -> subprocess.Popen:
    """`shotfarm render` in a process of its own, on a Ray of its own (never one another process started)."""
    env = {**os.environ, "RAY_ADDRESS": "local", "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator.interfaces.cli", "render", str(spec), "--out", str(out), *(["--log", log] if log else []), *ARGS],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip


@pytest.fixture(scope="module")
def clean_master(spec_path, tmp_path_factory) -> dict[str, bytes]:
    """The master of an uninterrupted render on the SQLite log, the one every resumed run must reproduce."""
    out = tmp_path_factory.mktemp("clean")
    finish(cli(spec_path, out))
    return master_bytes(out)


def recorded_twice(url: str) -> list[str]:
    """Chunks started again after a render of them was recorded (a new version aside)."""
    log = open_log(url)
    rendered: set[str] = set()
    twice = []
    for _, event in log.read():
        if isinstance(event, ev.ChunkStarted) and event.chunk_id in rendered:
            twice.append(event.chunk_id)
        if isinstance(event, ev.ChunkRendered):
            rendered.add(event.chunk_id)
        if isinstance(event, ev.ShotRequeued):
            rendered -= {c.chunk_id for c in event.chunks}
    log.close()
    return twice


@pytest.mark.ray
def test_the_embedded_farm_renders_a_sequence_on_a_postgresql_log(ray_session, tmp_path, pg_url):
    seq = sequence(shot("sh010", 1001, 1006, handles=1), shot("sh020", 1007, 1010, handles=2, angle=60))
    progress = render(seq, tmp_path, FarmSettings(chunk_frames=3), poll=0.1, log_url=pg_url)
    assert progress.status.value == "completed" and progress.master_frames == 10
    assert not (tmp_path / LOG_NAME).exists()  # the log is on the server, not in the output folder
    assert count(pg_url, "ChunkRendered") == progress.chunks_total
    report = verify(pg_url, str(tmp_path))
    assert report.ok and report.sequences[0].status == "completed", report.lines()
    # Rendering again renders nothing new: the farm replays the server's log.
    before = count(pg_url, "ChunkStarted")
    assert render(seq, tmp_path, FarmSettings(chunk_frames=3), poll=0.1, log_url=pg_url).status.value == "completed"
    assert count(pg_url, "ChunkStarted") == before


@pytest.mark.slow
def test_a_render_on_postgresql_killed_mid_run_resumes_to_the_clean_sqlite_master(spec_path, clean_master, tmp_path, pg_url):
    out = tmp_path / "out"
    kill_when(cli(spec_path, out, pg_url), lambda: count(pg_url, "ChunkRendered") >= 3)
    started = time.monotonic()
    proc = cli(spec_path, out, pg_url)
    kill_when(proc, lambda: time.monotonic() - started > 4.0)
    output = finish(cli(spec_path, out, pg_url))
    assert "completed" in output
    assert master_differences(master_bytes(out), clean_master) == []
    assert recorded_twice(pg_url) == []
    assert verify(pg_url, str(out)).ok
