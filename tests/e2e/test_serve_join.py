"""`shotfarm serve --join` against a real Ray head the test starts: it joins, renders, and exits cleanly.

The head (ray.cluster_utils.Cluster: a head and one worker, each with one
CPU for render nodes) runs in a child process that stops it when the test
closes its stdin. serve joins it as a node that offers no CPU, so the
render nodes land on the head's cluster, not beside serve.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from orchestrator.core import events as ev
from orchestrator.eventlog.sqlite import SqliteEventLog
from tests.api.support import DEMO, TOKENS, bearer
from tests.builders import last_document, shot, spec
from tests.e2e.test_standby import free_port
from tests.serving import wait_until_healthy

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]

_HEAD = textwrap.dedent(
    """
    import json, sys
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    worker = cluster.add_node(num_cpus=1)
    print(json.dumps({"address": cluster.address, "nodes": [cluster.head_node.node_id, worker.node_id]}), flush=True)
    sys.stdin.read()  # until the test closes it
    cluster.shutdown()
    print(json.dumps({"stopped": True}), flush=True)
    """
)


def until(ready, what: str, bound: float = 600) -> None:
    """Poll until `ready()`; `bound` only keeps a broken run from hanging."""
    started = time.monotonic()
    while not ready():
        assert time.monotonic() - started < bound, f"{what} did not happen"
        time.sleep(0.2)


def test_serve_joins_a_real_ray_head_renders_a_sequence_and_exits_cleanly(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(PYTHONPATH=str(REPO), RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1")
    head = subprocess.Popen([sys.executable, "-c", _HEAD], cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    serve = None
    try:
        assert head.stdout is not None and head.stdin is not None
        cluster = json.loads(head.stdout.readline())
        port, out = free_port(), tmp_path / "farm"
        url = f"http://127.0.0.1:{port}"
        # The raylet serve starts goes soon after the head it joined has gone.
        serve_env = dict(env, SHOTFARM_TOKENS=TOKENS, RAY_gcs_rpc_server_reconnect_timeout_s="10")
        argv = ["serve", "--join", cluster["address"], "--out", str(out), "--port", str(port), "--chunk-frames", "2"]
        serve = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.interfaces.cli", *argv], cwd=REPO, env=serve_env,
            stdout=(tmp_path / "serve.out").open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_until_healthy(serve, url + "/healthz")
        said = (tmp_path / "serve.out").read_text()
        assert serve.poll() is None, said[-3000:]
        assert "with 2 render node(s)" in said, "one per CPU the head's cluster offers; serve's own node offers none"
        answer = httpx.post(url + "/v1/sequences", json=spec(shot("sh010", 1001, 1004), shot("sh020", 1005, 1008)), headers=bearer(DEMO), timeout=60)
        assert answer.status_code == 201, answer.text
        sid = answer.json()["sequence_id"]

        def status() -> str:
            return httpx.get(f"{url}/v1/sequences/{sid}", headers=bearer(DEMO), timeout=30).json()["status"]

        until(lambda: status() in ("completed", "failed", "cancelled"), "the sequence finished")
        assert status() == "completed"
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=120) == 0, (tmp_path / "serve.out").read_text()[-3000:]
    finally:
        if serve is not None and serve.poll() is None:
            serve.kill()
            serve.wait()
        head.stdin.close()  # type: ignore[union-attr]
        stopped = head.stdout.read()  # type: ignore[union-attr]
        head.wait(timeout=120)
    assert last_document(stopped) == {"stopped": True}
    assert head.returncode == 0
    log = SqliteEventLog(out / "shotfarm.db")
    events = [e for _, e in log.read()]
    log.close()
    rendered = [e for e in events if isinstance(e, ev.ChunkRendered)]
    (planned,) = [e for e in events if isinstance(e, ev.ShotsPlanned)]
    assert {e.chunk_id for e in rendered} == {c.chunk_id for c in planned.chunks}, "every chunk rendered"
    assert {e.node_id for e in rendered} <= {"cpu-0", "cpu-1"}
