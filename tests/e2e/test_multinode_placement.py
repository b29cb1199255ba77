"""A farm on a Ray cluster of several nodes: each render node lands on a Ray node of its class.

The cluster (ray.cluster_utils.Cluster: a head and one worker per node
class, each worker offering its class's custom resource) runs in a child
process, so it never meets the session's Ray instance (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]

_CLUSTER = textwrap.dedent(
    """
    import json, sys
    import ray
    import ray._private.state
    from ray.cluster_utils import Cluster
    from nodes.pool import ClassPool, class_slots, start_render_nodes

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    workers = {
        name: cluster.add_node(num_cpus=1, resources={f"gpu_class_{name}": 2})
        for name in ("h100", "l40s")
    }
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        slots = class_slots([ClassPool(name, 2, f"gpu_class_{name}", 0.0, 0.1) for name in workers])
        handles = start_render_nodes(slots, sys.argv[1], threads=1, timeout=600)
        table = ray._private.state.actors()
        placed = {node: table[h._actor_id.hex()]["Address"]["NodeID"] for node, h in handles.items()}
        print(json.dumps({"placed": placed, "workers": {k: w.node_id for k, w in workers.items()}}))
    finally:
        ray.shutdown()
        cluster.shutdown()
    """
)


def test_render_nodes_of_each_class_are_placed_on_the_ray_nodes_that_offer_that_class(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0"}
    child = subprocess.run(
        [sys.executable, "-c", _CLUSTER, str(tmp_path / "store")], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr[-3000:]
    found = json.loads(child.stdout.strip().splitlines()[-1])
    placed, workers = found["placed"], found["workers"]
    assert sorted(placed) == ["h100-0", "h100-1", "l40s-0", "l40s-1"]
    for node, ray_node in placed.items():
        assert ray_node == workers[node.split("-")[0]], f"{node} runs on a Ray node of another class"
