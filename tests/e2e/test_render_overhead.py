"""What a render does besides rendering stays off the critical path: no calibration render, nodes started alongside."""

from __future__ import annotations

import json

import pytest
import ray
import yaml

from nodes.pool import start_check_node, start_master_node
from orchestrator.interfaces.cli import main
from tests.builders import shot, spec

pytestmark = pytest.mark.ray


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
