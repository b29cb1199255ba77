"""A farm on a Ray cluster of several nodes: render nodes placed by class, and a worker node lost mid-render.

Each cluster (ray.cluster_utils.Cluster: a head and worker nodes offering
node-class custom resources) runs in a child process, so it never meets the
session's Ray instance (tests/conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.builders import last_document

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]

_CLUSTER = textwrap.dedent(
    """
    import json, sys
    import ray
    import ray._private.state
    from ray.cluster_utils import Cluster
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    from nodes.pool import ClassPool, class_slots, start_check_node, start_master_node, start_render_nodes

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    workers = {
        name: cluster.add_node(num_cpus=1, resources={f"gpu_class_{name}": 2})
        for name in ("h100", "l40s")
    }
    ray.init(address=cluster.address, log_to_driver=False)

    @ray.remote(num_cpus=0)
    def support_nodes_started_from_a_worker(store):
        # As a coordinator that Ray put on a GPU pod would start them.
        handles = {"master": start_master_node(store, 600, wait=True), "check": start_check_node(store, 0, 600, wait=True)}
        table = ray._private.state.actors()
        return {name: table[h._actor_id.hex()]["Address"]["NodeID"] for name, h in handles.items()}

    try:
        slots = class_slots([ClassPool(name, 2, f"gpu_class_{name}", 0.0, 0.1) for name in workers])
        handles = start_render_nodes(slots, sys.argv[1], threads=1, timeout=600)
        table = ray._private.state.actors()
        placed = {node: table[h._actor_id.hex()]["Address"]["NodeID"] for node, h in handles.items()}
        on_worker = NodeAffinitySchedulingStrategy(workers["h100"].node_id, soft=False)
        support = ray.get(
            support_nodes_started_from_a_worker.options(scheduling_strategy=on_worker).remote(sys.argv[1]), timeout=600
        )
        print(json.dumps({
            "placed": placed, "support": support, "head": cluster.head_node.node_id,
            "workers": {k: w.node_id for k, w in workers.items()},
        }))
    finally:
        ray.shutdown()
        cluster.shutdown()
    """
)


def test_render_nodes_go_to_their_class_and_the_master_and_check_node_to_the_head(tmp_path):
    """A scale-down removes worker pods, never the head: the nodes a sequence cannot lose mid-stitch live there."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0"}
    child = subprocess.run(
        [sys.executable, "-c", _CLUSTER, str(tmp_path / "store")], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr[-3000:]
    found = last_document(child.stdout)
    placed, workers = found["placed"], found["workers"]
    assert sorted(placed) == ["h100-0", "h100-1", "l40s-0", "l40s-1"]
    for node, ray_node in placed.items():
        assert ray_node == workers[node.split("-")[0]], f"{node} runs on a Ray node of another class"
    assert found["support"] == {"master": found["head"], "check": found["head"]}, "started from a worker, placed off the head"


_LOSE_A_WORKER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import ray
    import ray._private.state
    from ray.cluster_utils import Cluster
    from orchestrator.config.settings import FarmSettings
    from orchestrator.interfaces.embedded import render
    from orchestrator.scheduling.farm import FarmConfig, NodeClass
    from tests.builders import sequence, shot

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    workers = [cluster.add_node(num_cpus=1, resources={"gpu_class_h100": 2}) for _ in range(2)]
    ray.init(address=cluster.address, log_to_driver=False)
    farm = FarmConfig(classes=(NodeClass(name="h100", count=2, resource="gpu_class_h100", cpus=0.1),))
    settings = FarmSettings(chunk_frames=1, farm=farm)
    spec = sequence(shot("sh010", 1001, 1006), shot("sh020", 1007, 1012, angle=60), resolution=[48, 28], samples=16)
    lost = []

    def lose_a_worker(progress):
        # Once some chunks are recorded, the worker holding a render node goes, with what it was rendering.
        if lost or progress.chunks_rendered < 2:
            return
        busy = {a["Address"]["NodeID"] for a in ray._private.state.actors().values()
                if a.get("ActorClassName", "").endswith("RenderNode") and a.get("State") == "ALIVE"}
        victim = next(w for w in workers if w.node_id in busy)
        cluster.remove_node(victim, allow_graceful=False)
        lost.append(victim.node_id)

    try:
        clean = render(spec, Path(sys.argv[1]) / "clean", settings)
        killed = render(spec, Path(sys.argv[1]) / "killed", settings, on_progress=lose_a_worker)
        print(json.dumps({"lost": lost, "clean": clean.chunks_rendered, "killed": killed.chunks_rendered,
                          "total": killed.chunks_total}))
    finally:
        ray.shutdown()
        cluster.shutdown()
    """
)


def accepted_frames(db: Path) -> tuple[dict[int, str], list[str]]:
    """(frame -> digest of every render the log accepted, chunks started again after being recorded rendered)."""
    from orchestrator.core import events as ev
    from orchestrator.eventlog.sqlite import SqliteEventLog
    from tests.builders import accepted_renders

    log = SqliteEventLog(db)
    events = [e for _, e in log.read()]
    log.close()
    rendered: set[str] = set()
    again = []
    for e in events:
        if isinstance(e, ev.ChunkStarted) and e.chunk_id in rendered:
            again.append(e.chunk_id)
        if isinstance(e, ev.ChunkRendered):
            rendered.add(e.chunk_id)
    return {f.frame: f.digest for e in accepted_renders(events) for f in e.frames}, again


def test_a_worker_node_lost_mid_render_loses_nothing_and_its_chunks_render_on_the_survivor(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0"}
    child = subprocess.run(
        [sys.executable, "-c", _LOSE_A_WORKER, str(tmp_path)], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=1500,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr[-3000:]
    found = last_document(child.stdout)
    assert found["lost"], "a worker node was removed mid-render"
    assert found["clean"] == found["killed"] == found["total"]
    clean, _ = accepted_frames(tmp_path / "clean" / "shotfarm.db")
    killed, again = accepted_frames(tmp_path / "killed" / "shotfarm.db")
    assert again == [], "a chunk recorded rendered was started again"
    assert clean, "the log accounts for the clean run's frames"
    assert killed == clean, "every frame rendered, bit for bit the frame of the uninterrupted run"
