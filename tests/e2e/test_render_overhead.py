"""What a render does besides rendering stays off the critical path: no calibration render, nodes started alongside."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import ray
import yaml

from nodes.pool import start_check_node, start_master_node
from orchestrator.interfaces.cli import main
from tests.builders import shot, spec

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parents[2]


def test_a_render_without_history_is_quoted_from_its_own_first_chunks(ray_session, tmp_path, capsys):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec(shot("sh010", 1001, 1004))))
    argv = ["render", str(path), "--out", str(tmp_path / "out"), "--chunk-frames", "2", "--resolution", "32x18"]
    code = main([*argv, "--samples", "1", "--output", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["status"] == "completed"
    assert doc["predicted"]["basis"].startswith("calibration: the farm's first ")
    assert doc["predicted"]["chunks"] == 2 and doc["predicted"]["node_seconds"] > 0


def test_master_and_check_nodes_answer_calls_sent_before_they_are_up(ray_session, tmp_path):
    master = start_master_node(str(tmp_path), timeout=60)
    checker = start_check_node(str(tmp_path), gpus=0, timeout=60)
    try:
        # Returned at once, still starting: a call queues until the node is up, then is answered.
        answers = ray.get([master.__ray_call__.remote(lambda node: type(node).__name__),
                           checker.__ray_call__.remote(lambda node: type(node).__name__)], timeout=120)  # fmt: skip
        assert answers == ["MasterNode", "CheckNode"]
    finally:
        ray.kill(master)
        ray.kill(checker)


def test_a_master_node_that_cannot_start_fails_its_first_call_saying_why(ray_session):
    master = start_master_node("s3://bucket/prefix", timeout=60)  # returns at once; the node fails as it starts
    with pytest.raises(ray.exceptions.RayActorError, match="SHOTFARM_S3_ENDPOINT"):
        ray.get(master.__ray_call__.remote(lambda node: node.store), timeout=120)


STOP_A_LOCAL_RAY = """
import ray
from orchestrator.interfaces import embedded

assert embedded.ensure_ray(1)
assert not embedded.ensure_ray(1)  # up already: a second caller does not own it
monitor = [info.process for info in ray._private.worker._global_node.all_processes["monitor"]]
assert monitor
ray_stops = ray.shutdown


def shutdown(*args, **kwargs):
    # Killed before Ray's own stop begins (else it stays up until Ray's SIGTERM and second run out).
    assert [p.wait(timeout=5) for p in monitor] == [-9] * len(monitor)
    ray_stops(*args, **kwargs)


ray.shutdown = shutdown
embedded.stop_ray()
assert not ray.is_initialized()
print("stopped")
"""


def test_a_local_ray_is_stopped_with_its_autoscaler_monitor_killed_outright(tmp_path):
    # Ray gives the monitor (which a local Ray never needs) a second to end on SIGTERM, and it takes it.
    done = subprocess.run([sys.executable, "-c", STOP_A_LOCAL_RAY], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0 and "stopped" in done.stdout, done.stderr[-2000:]


def test_a_render_stops_no_ray_it_did_not_start(ray_session, tmp_path, capsys):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec(shot("sh010", 1001, 1002))))
    assert main(["render", str(path), "--out", str(tmp_path / "out"), "--resolution", "32x18", "--samples", "1"]) == 0
    assert ray.is_initialized()
