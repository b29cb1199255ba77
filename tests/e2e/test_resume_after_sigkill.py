"""A render killed with SIGKILL resumes from its event log: nothing lost, nothing rendered twice.

Real subprocesses, real SIGKILLs, each at a different moment of the run.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bench.chaos import master_differences
from orchestrator.core import events as ev
from orchestrator.eventlog.sqlite import SqliteEventLog
from tests.builders import shot, spec

pytestmark = pytest.mark.slow
ARGS = ["--chunk-frames", "2", "--cpus", "2"]


def cli(spec_path: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator.interfaces.cli", "render", str(spec_path), "--out", str(out), *ARGS],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen) -> str:
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    return output


def rendered_count(out: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{out / 'shotfarm.db'}?mode=ro", uri=True, timeout=1)
        n = db.execute("SELECT count(*) FROM events WHERE type = 'ChunkRendered'").fetchone()[0]
        db.close()
        return n
    except sqlite3.OperationalError:
        return 0  # not created yet


def kill_when(proc: subprocess.Popen, ready, deadline: float = 120) -> None:
    end = time.monotonic() + deadline
    while not ready() and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    assert proc.poll() is None, "the render finished before the kill point; make the test spec slower"
    proc.kill()  # SIGKILL
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def master_bytes(out: Path) -> dict[str, bytes]:
    master = out / "demo" / "sq010" / "master"
    return {str(p.relative_to(master)): p.read_bytes() for p in sorted(master.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "small.yaml"
    data = spec(
        shot("sh010", 1001, 1010, handles=1),
        shot("sh020", 1011, 1018, angle=60),
        shot("sh030", 1019, 1024, handles=1, angle=120),
        resolution=[96, 54], samples=160,
    )
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def clean_master(spec_path, tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("clean")
    finish(cli(spec_path, out))
    return master_bytes(out)


def test_killed_twice_then_resumed_gives_a_byte_identical_master_and_renders_nothing_twice(
    spec_path, clean_master, tmp_path
):
    out = tmp_path / "out"
    # First kill: once some chunks are recorded as rendered.
    kill_when(cli(spec_path, out), lambda: rendered_count(out) >= 3)
    # Second kill: at a random moment, which may fall in Ray's start-up or mid-chunk.
    delay = random.Random(os.getpid()).uniform(3.0, 7.0)
    proc, started = cli(spec_path, out), time.monotonic()
    kill_when(proc, lambda: time.monotonic() - started > delay)
    output = finish(cli(spec_path, out))

    assert "completed" in output
    resumed = master_bytes(out)
    assert not list(out.rglob(".tmp-*"))  # what a kill left half-written was discarded on resume
    assert master_differences(resumed, clean_master) == []  # byte for byte, every master file
    assert len([k for k in clean_master if k.startswith("exr/")]) == 24
    assert {"contact_sheet.png", "hdr10.mp4", "review_sdr.mp4", "continuity.json", "continuity.html"} <= set(clean_master)

    log = SqliteEventLog(out / "shotfarm.db")
    rendered: set[str] = set()
    for _, event in log.read():
        if isinstance(event, ev.ChunkStarted):
            assert event.chunk_id not in rendered, f"{event.chunk_id} was rendered again after being recorded"
        if isinstance(event, ev.ChunkRendered):
            rendered.add(event.chunk_id)
        if isinstance(event, ev.ShotRequeued):  # a new version renders anew, by design
            rendered -= {c.chunk_id for c in event.chunks}
    pools = [e for _, e in log.read() if isinstance(e, ev.PoolStarted)]
    log.close()
    # One per coordinator start; the random kill may land before Ray is even up.
    assert 2 <= len(pools) <= 3
