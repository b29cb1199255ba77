"""A farm on a Ray cluster whose nodes come and go: a worker that joins mid-run gets work,
and a scale-down deletes only the workers the scaler named, which hold no chunk.

Each cluster (ray.cluster_utils.Cluster: a head and worker nodes offering
the h100 class's custom resource) runs in a child process, so it never
meets the session's Ray instance (tests/conftest.py); the child prints what
it saw as one JSON line and the test reads the farm's log.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestrator.core import events as ev
from orchestrator.eventlog.sqlite import SqliteEventLog
from tests.builders import last_document
from tests.e2e.test_multinode_placement import accepted_frames

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]

_SETUP = """
import json, sys, time
from pathlib import Path
import ray
from ray.cluster_utils import Cluster
from orchestrator.config.settings import FarmSettings, PoolSettings
from orchestrator.scheduling.farm import FarmConfig, NodeClass
from tests.builders import sequence, shot

out = Path(sys.argv[1])
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})

def worker(**labels):
    return cluster.add_node(num_cpus=1, resources={"gpu_class_h100": 1}, labels=labels)

def settings(count):
    # One chunk at a node at a time, so that queued work waits for a node rather than at one.
    farm = FarmConfig(classes=(NodeClass(name="h100", count=count, resource="gpu_class_h100", cpus=0.1, slots=1),))
    return FarmSettings(chunk_frames=1, farm=farm, pool=PoolSettings(wait_for_nodes=False))

# Some 48 chunks of about a second each: a worker that joins once the first chunk is under way still
# finds chunks queued, though its render node takes from 20 s to minutes to start on a loaded machine.
spec = sequence(shot("sh010", 1001, 1024), shot("sh020", 1025, 1048, angle=60), resolution=[96, 54], samples=128)
"""


def run_child(script: str, tmp_path: Path, timeout: float = 1500) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0"}
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_SETUP) + textwrap.dedent(script), str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr[-3000:]
    return last_document(child.stdout)


def events_of(db: Path) -> list[ev.Event]:
    log = SqliteEventLog(db)
    try:
        return [e for _, e in log.read()]  # type: ignore[misc]
    finally:
        log.close()


_JOIN_MID_RUN = """
from orchestrator.interfaces.embedded import render

first = worker()
ray.init(address=cluster.address, log_to_driver=False)
joined = []

def join_a_worker(progress):
    # The second h100 render node waits to be placed; once the first renders, a worker that offers the class joins.
    if not joined and progress.chunks_running + progress.chunks_rendered >= 1:
        joined.append(worker().node_id)

try:
    clean = render(spec, out / "clean", settings(1))
    late = render(spec, out / "joined", settings(2), on_progress=join_a_worker)
    print(json.dumps({"joined": joined, "clean": clean.chunks_rendered, "late": late.chunks_rendered, "total": late.chunks_total,
                      "frames": late.frames_total}))
finally:
    ray.shutdown()
    cluster.shutdown()
"""


def test_a_worker_that_joins_mid_run_gets_work_and_nothing_renders_twice(tmp_path):
    found = run_child(_JOIN_MID_RUN, tmp_path)
    assert found["joined"], "a worker joined mid-run"
    assert found["clean"] == found["late"] == found["total"]
    events = events_of(tmp_path / "joined" / "shotfarm.db")
    (pool,) = [e for e in events if isinstance(e, ev.PoolStarted)]
    assert pool.nodes == (), "no node was waited for: each joins when it answers"
    joins = [i for i, e in enumerate(events) if isinstance(e, ev.NodeJoined)]
    assert sorted(events[i].node.node_id for i in joins) == ["h100-0", "h100-1"]  # type: ignore[union-attr]
    late = next(i for i in joins if events[i].node.node_id == "h100-1")  # type: ignore[union-attr]
    assert [e for e in events[:late] if isinstance(e, ev.ChunkStarted) and e.node_id == "h100-0"], "it joined mid-run"
    on_late = [e for e in events[late:] if isinstance(e, ev.ChunkRendered) and e.node_id == "h100-1"]
    assert on_late, "the node that joined rendered chunks"
    assert not [e for e in events if isinstance(e, ev.ChunkFailed | ev.ChunkPreempted)]
    _, again = accepted_frames(tmp_path / "joined" / "shotfarm.db")
    assert again == [], "a chunk recorded rendered was started again"
    clean_events = events_of(tmp_path / "clean" / "shotfarm.db")
    assert not [e for e in clean_events if isinstance(e, ev.ChunkFailed | ev.ChunkPreempted)]
    clean, joined = frame_digests(clean_events), frame_digests(events)
    assert len(joined) == found["frames"], "every frame rendered once"
    assert joined == clean, "every frame is the one-node run's, digest for digest"


def frame_digests(events: list[ev.Event]) -> dict[int, str]:
    """Frame -> digest, from every render the log records (each chunk renders once here: no failure, no preemption)."""
    digests: dict[int, str] = {}
    for e in events:
        if isinstance(e, ev.ChunkRendered):
            for f in e.frames:
                assert f.frame not in digests, f"frame {f.frame} recorded twice"
                digests[f.frame] = f.digest
    return digests


_SCALE_DOWN = """
from orchestrator.cluster.adapter import FakeClusterAPI, worker_pod
from orchestrator.cluster.operator import reconcile
from orchestrator.cluster.raynodes import placement
from orchestrator.config.cost import PriceBook
from orchestrator.interfaces.embedded import LOG_NAME, start_coordinator
from tests.orchestrator.cluster.clusters import group, raycluster

# Three GPU pods of one worker group, each a Ray node labelled with its pod's name as the manifests set it;
# two render nodes, so one pod holds none.
pods = {name: worker(**{"shotfarm.io/pod": name}) for name in ("shotfarm-gpu-h100-a", "shotfarm-gpu-h100-b", "shotfarm-gpu-h100-c")}
api = FakeClusterAPI(
    rayclusters={("shotfarm", "shotfarm"): raycluster(group("gpu-h100", "h100", replicas=3))},
    pods={"shotfarm": [worker_pod("shotfarm", "gpu-h100", name, ip="127.0.0.1") for name in pods]},
)
ray.init(address=cluster.address, log_to_driver=False)
coordinator = start_coordinator(out / LOG_NAME, str(out), settings(2))
calls = 60

def until(check, what, seconds=600):
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
    return found

try:
    ray.get(coordinator.start.remote(1, 0), timeout=calls)
    sid = ray.get(coordinator.submit.remote(spec.model_dump(mode="json")), timeout=calls)
    # While both render nodes hold a chunk, the queue "empties" (demand 0): the scaler lowers the group.
    busy = until(lambda: both if len(both := ray.get(coordinator.holding.remote(), timeout=calls)) == 2 else None, "two nodes busy")
    done = reconcile(api, {}, PriceBook(usd_per_hour={"h100": 4.0}),
                     placement=lambda: placement(ray.get(coordinator.holding.remote(), timeout=calls)))
    named = list(done.down.workers_to_delete.get("gpu-h100", ()))
    for name in named:  # KubeRay's part: delete exactly the pods named
        cluster.remove_node(pods[name], allow_graceful=False)
    rendering = ray.get(coordinator.progress.remote(sid), timeout=calls)
    def all_rendered():
        p = ray.get(coordinator.progress.remote(sid), timeout=calls)
        return p if p.chunks_rendered == p.chunks_total else None

    finished = until(all_rendered, "every chunk rendered")
    print(json.dumps({
        "busy": busy, "pods": {n: w.node_id for n, w in pods.items()}, "named": named,
        "replicas": api.rayclusters[("shotfarm", "shotfarm")]["spec"]["workerGroupSpecs"][0]["replicas"],
        "left_to_render": rendering.chunks_total - rendering.chunks_rendered, "rendered": finished.chunks_rendered,
        "total": finished.chunks_total,
    }))
finally:
    ray.get(coordinator.shutdown.remote(), timeout=calls)
    ray.kill(coordinator)
    ray.shutdown()
    cluster.shutdown()
"""


def test_a_scale_down_deletes_only_idle_pods_and_no_chunk_in_flight_is_lost(tmp_path):
    found = run_child(_SCALE_DOWN, tmp_path)
    by_node = {node: pod for pod, node in found["pods"].items()}
    busy_pods = {by_node[n] for n in found["busy"]}
    assert len(busy_pods) == 2
    assert found["named"] == sorted(set(found["pods"]) - busy_pods), "the one idle pod is named, no busy one"
    assert found["replicas"] == 2, "replicas never drop below the busy pods"
    assert found["left_to_render"] > 0, "the scale-down came while chunks were still to render"
    assert found["rendered"] == found["total"]
    events = events_of(tmp_path / "shotfarm.db")
    assert not [e for e in events if isinstance(e, ev.ChunkFailed | ev.ChunkPreempted)], "no chunk lost its node"
    starts = [(e.chunk_id, e.attempt) for e in events if isinstance(e, ev.ChunkStarted)]
    assert {a for _, a in starts} == {1} and len(starts) == len({c for c, _ in starts}), "every chunk started once"


_DRAIN = """
import os, subprocess
import ray._private.state as ray_state
from nodes import busy
from orchestrator.interfaces.embedded import LOG_NAME, start_coordinator

# Two GPU pods, each a Ray node with its own temporary folder (a pod's emptyDir), so one drains alone.
def pod(name):
    tmp = out / name / "tmp"
    tmp.mkdir(parents=True)
    return tmp, cluster.add_node(num_cpus=1, resources={"gpu_class_h100": 1}, env_vars={"TMPDIR": str(tmp)})

ray.init(address=cluster.address, log_to_driver=False)
coordinator = start_coordinator(out / LOG_NAME, str(out), settings(2))
calls = 60

def until(check, what, seconds=600, every=0.05):
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(every)
    return found

def scratch(name):
    return pods[name][0] / busy.scratch_root().name

def helpers():
    # Ray node of every actor but the render nodes, once the master and check nodes are up.
    alive = [a for a in ray_state.actors().values() if a["State"] == "ALIVE" and a["ActorClassName"] != "RenderNode"]
    names = {a["ActorClassName"] for a in alive}
    return {a["Address"]["NodeID"] for a in alive} if {"MasterNode", "CheckNode"} <= names else None

try:
    # The coordinator, master and check nodes start before the GPU pods exist, so they live on the head as
    # they would beside the orchestrator, not in a pod that goes; the render nodes wait for the pods.
    ray.get(coordinator.start.remote(1, 0), timeout=calls)
    on_head = until(helpers, "the master and check nodes up")
    pods = {name: pod(name) for name in ("shotfarm-gpu-h100-a", "shotfarm-gpu-h100-b")}
    sid = ray.get(coordinator.submit.remote(spec.model_dump(mode="json")), timeout=calls)
    until(lambda: len(ray.get(coordinator.holding.remote(), timeout=calls)) == 2, "two nodes busy")
    # The pod told to stop is the one whose render node is mid-chunk now: its preStop hook marks it
    # draining first (done here the moment a render is seen, so that the chunk is surely in flight).
    name = until(lambda: next((n for n in sorted(pods) if busy.rendering_now(scratch(n))), None), "a pod rendering", every=0.001)
    busy.drain(scratch(name))
    drained_at = time.time()
    in_flight = busy.rendering_now(scratch(name))
    queued = ray.get(coordinator.progress.remote(sid), timeout=calls)
    hook = subprocess.run([sys.executable, "-m", "nodes.busy", "--wait", "600"], env={**os.environ, "TMPDIR": str(pods[name][0])},
                          capture_output=True, text=True, timeout=700)
    hook_done_at = time.time()
    cluster.remove_node(pods[name][1], allow_graceful=False)  # KubeRay's part: the pod is gone once its preStop returns

    def all_rendered():
        p = ray.get(coordinator.progress.remote(sid), timeout=calls)
        return p if p.chunks_rendered == p.chunks_total else None

    finished = until(all_rendered, "every chunk rendered")
    print(json.dumps({
        "helpers": sorted(on_head), "head": cluster.head_node.node_id, "in_flight": in_flight, "drained_at": drained_at,
        "hook": hook.returncode, "hook_err": hook.stderr[-2000:],
        "hook_done_at": hook_done_at, "left_to_render": queued.chunks_total - queued.chunks_rendered - queued.chunks_running,
        "rendered": finished.chunks_rendered, "total": finished.chunks_total, "frames": finished.frames_total,
    }))
finally:
    ray.get(coordinator.shutdown.remote(), timeout=calls)
    ray.kill(coordinator)
    ray.shutdown()
    cluster.shutdown()
"""


def test_a_pod_that_drains_while_chunks_are_queued_gets_no_new_chunk_and_finishes_the_one_it_renders(tmp_path):
    found = run_child(_DRAIN, tmp_path)
    assert found["helpers"] == [found["head"]], "only render nodes live in the pods"
    assert found["in_flight"], "a chunk was rendering on the pod when it began to drain"
    assert found["left_to_render"] > 0, "chunks were queued when it began to drain"
    assert found["hook"] == 0, f"the preStop wait ended once nothing rendered: {found['hook_err']}"
    assert found["rendered"] == found["total"]
    events = events_of(tmp_path / "shotfarm.db")
    (drain,) = [e for e in events if isinstance(e, ev.NodeDraining)]
    node = drain.node_id
    refused = [e for e in events if isinstance(e, ev.ChunkRefused)]
    assert refused and {e.node_id for e in refused} == {node}, "the draining node refused the chunk sent next"
    first_refusal = events.index(refused[0])
    assert events.index(drain) > first_refusal, "recorded once the node has refused"
    assert not [e for e in events[first_refusal:] if isinstance(e, ev.ChunkStarted) and e.node_id == node], "no new chunk after"
    finished_there = [e for e in events if isinstance(e, ev.ChunkRendered) and e.node_id == node and e.at >= found["drained_at"]]
    assert finished_there, "the chunk in flight when it began to drain finished on it"
    assert all(e.at <= found["hook_done_at"] for e in finished_there), "before its preStop let the pod go"
    assert not [e for e in events if isinstance(e, ev.ChunkFailed | ev.ChunkPreempted)], "nothing failed or was taken back"
    rendered = {e.chunk_id: e for e in events if isinstance(e, ev.ChunkRendered)}
    assert all(rendered[e.chunk_id].node_id != node and rendered[e.chunk_id].attempt == 1 for e in refused), "refused chunks render elsewhere, as first attempts"
    assert len(frame_digests(events)) == found["frames"], "every frame rendered once"
