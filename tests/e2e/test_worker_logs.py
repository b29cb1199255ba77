"""What the coordinator and the nodes log reaches the `shotfarm render` or `serve` that started them.

Each command runs in its own process, as an operator runs it, so that it
starts its own Ray with the logging the command line asked for. Its output
folder holds a record this release cannot fold (what an older release
logged for a NaN radius): the coordinator sets that sequence aside and says
so at error level, from inside its Ray actor, while another show renders.
`render` writes its log to stderr (stdout holds its summary), `serve` to
stdout (what a container's log collector reads).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestrator.core import events as ev
from orchestrator.eventlog.sqlite import LOG_NAME, SqliteEventLog
from tests.api.support import TOKENS
from tests.builders import SID, shot, spec
from tests.serving import wait_until_healthy

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def poison(out: Path) -> None:
    data = spec()
    data["scenes"]["set"]["objects"][1]["radius"] = None
    out.mkdir(parents=True)
    log = SqliteEventLog(out / LOG_NAME)
    log.append(ev.SequenceSubmitted(at=1.0, sequence_id=SID, spec=data, spec_digest="old"))
    log.close()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> subprocess.CompletedProcess[str]:
    """`shotfarm --log-level info --log-format json render ... --output json` of another show beside a set-aside sequence."""
    tmp = tmp_path_factory.mktemp("logs")
    poison(tmp / "out")
    path = tmp / "spec.yaml"
    path.write_text(yaml.safe_dump(spec(shot("sh010", 1001, 1002), show="other")))
    argv = [
        "--log-level", "info", "--log-format", "json", "render", str(path), "--out", str(tmp / "out"), "--cpus", "2",
        "--chunk-frames", "2", "--resolution", "32x18", "--samples", "1", "--output", "json",
    ]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.interfaces.cli", *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=570
    )


def lines(stream: str) -> list[dict]:
    return [json.loads(line) for line in stream.splitlines() if line.strip()]


def test_the_render_completes_and_stdout_is_only_its_summary(rendered):
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    summary = json.loads(rendered.stdout)
    assert summary["sequence_id"] == "other:sq010" and summary["status"] == "completed"


def test_every_line_on_stderr_is_one_json_object(rendered):
    for doc in lines(rendered.stderr):  # json.loads raises on any other line
        assert {"time", "level", "logger", "message"} <= set(doc), doc


def test_the_coordinator_actors_error_reaches_the_driver_naming_its_sequence(rendered):
    errors = [d for d in lines(rendered.stderr) if d["level"] == "error" and d.get("sequence") == SID]
    assert errors, rendered.stderr[-3000:]
    assert errors[0]["logger"] == "orchestrator.coordinator.interpreter"
    assert "is set aside" in errors[0]["message"] and "shotfarm log retire" in errors[0]["message"]


def test_progress_is_logged_at_info_naming_the_sequence_rendered(rendered):
    progress = [d for d in lines(rendered.stderr) if d["logger"] == "orchestrator.progress"]
    assert progress and all(d["sequence"] == "other:sq010" for d in progress)
    assert "completed" in progress[-1]["message"]


def test_a_served_farm_logs_json_on_stdout_its_actors_lines_and_its_requests(tmp_path):
    poison(tmp_path / "out")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = ["--log-format", "json", "serve", "--out", str(tmp_path / "out"), "--port", str(port), "--cpus", "1"]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"RAY_USAGE_STATS_ENABLED": "0", "SHOTFARM_TOKENS": TOKENS}
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator.interfaces.cli", *argv], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_healthy(proc, f"http://127.0.0.1:{port}/healthz?token=secret")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    logged = lines(out)  # every line on stdout is one JSON object
    lines(err)  # and on stderr
    assert any(d["message"].startswith(f"serving http://127.0.0.1:{port}/") for d in logged)
    assert any(d["level"] == "error" and d.get("sequence") == SID and "is set aside" in d["message"] for d in logged), out[-3000:]
    requests = [d for d in logged if d["logger"] == "uvicorn.access"]
    assert requests and all("secret" not in d["message"] for d in requests)
    assert any("/healthz?token=REDACTED" in d["message"] for d in requests)


def test_a_render_nodes_info_line_reaches_the_driver_naming_sequence_shot_and_chunk(rendered):
    chunks = [d for d in lines(rendered.stderr) if d["logger"] == "nodes.actors.render"]
    assert chunks, rendered.stderr[-3000:]
    assert {(d["level"], d["sequence"], d["shot"]) for d in chunks} == {("info", "other:sq010", "sh010")}
    assert all(d["chunk"] and "rendered frames 1001-1002" in d["message"] for d in chunks)


def test_a_clean_render_carries_no_chatter_from_rays_own_workers(rendered):
    assert [d for d in lines(rendered.stderr) if d["logger"].startswith("ray.")] == []
