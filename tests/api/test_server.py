"""`shotfarm serve`: bad input is exit 2 before anything starts; SIGTERM stops a running farm cleanly."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from orchestrator.config.settings import FarmSettings, TimeoutSettings
from orchestrator.coordinator.actor import CoordinatorActor
from orchestrator.interfaces.remote_cli import add_commands
from orchestrator.interfaces.server import serve_main
from tests.api.support import ADMIN, DEMO, TOKENS, bearer
from tests.serving import wait_until_healthy

ROOT = Path(__file__).resolve().parents[2]
RUNNER = (
    "import argparse, sys\n"
    "from orchestrator.interfaces.remote_cli import add_commands\n"
    "p = argparse.ArgumentParser(); h = add_commands(p.add_subparsers(dest='command'))\n"
    "a = p.parse_args(sys.argv[1:]); sys.exit(h[a.command](a))\n"
)


def args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(["serve", *argv])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tokens(monkeypatch):
    monkeypatch.setenv("SHOTFARM_TOKENS", TOKENS)


def test_no_tokens_is_exit_2(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("SHOTFARM_TOKENS", raising=False)
    assert serve_main(args("--out", str(tmp_path), "--port", "0")) == 2
    assert "no API tokens" in capsys.readouterr().err


def test_an_unwritable_output_folder_is_exit_2(tokens, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert serve_main(args("--out", str(tmp_path / "file" / "out"), "--port", "0")) == 2
    assert "cannot write there" in capsys.readouterr().err


def test_a_port_in_use_is_exit_2(tokens, tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert serve_main(args("--out", str(tmp_path), "--port", str(busy.getsockname()[1]))) == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


def test_a_bad_upload_limit_is_exit_2_naming_the_flag(tokens, tmp_path, capsys):
    assert serve_main(args("--out", str(tmp_path), "--upload-limit-mb", "0", "--port", "0")) == 2
    assert "--upload-limit-mb must be at least 1, got 0" in capsys.readouterr().err


@pytest.mark.slow
def test_a_served_farm_answers_and_stops_cleanly_on_sigterm(tmp_path):
    port = free_port()
    env = dict(os.environ, SHOTFARM_TOKENS=TOKENS, RAY_ADDRESS="local", RAY_USAGE_STATS_ENABLED="0")
    argv = ["serve", "--out", str(tmp_path), "--port", str(port), "--cpus", "1"]
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, *argv], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(proc, f"{url}/healthz", tries=600)
        with httpx.Client(base_url=url, timeout=30) as c:
            assert c.get("/v1/sequences", headers=bearer(DEMO)).json() == []
            assert "shotfarm_sequences" in c.get("/metrics", headers=bearer(ADMIN)).text
            assert "<title>shotfarm</title>" in c.get("/").text
            assert c.get("/static/app.js").status_code == 200
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and DEMO not in err
    # The log was let go of: a new coordinator can own the folder at once.
    again = CoordinatorActor(str(tmp_path / "shotfarm.db"), str(tmp_path), FarmSettings(timeouts=TimeoutSettings(lock=1)))
    asyncio.run(again.shutdown())
