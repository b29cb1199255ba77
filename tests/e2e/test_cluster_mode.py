"""Cluster mode on a real local Ray: the queue drives the RayCluster's worker groups.

The Kubernetes side is the in-memory cluster (the adapter's contract tests
hold it to the real API's behaviour); the farm, its event log and the
demand it reports are real. The session's Ray fakes the h100 and l40s
classes with custom resources.
"""

from __future__ import annotations

import time

import pytest
import ray

from orchestrator.cluster.adapter import FakeClusterAPI
from orchestrator.cluster.operator import Scaler
from orchestrator.config.settings import FarmSettings, PoolSettings
from orchestrator.interfaces.cli import main
from orchestrator.interfaces.embedded import LOG_NAME, start_coordinator
from orchestrator.scheduling.farm import FarmConfig
from tests.builders import H100, L40S, sequence, shot
from tests.orchestrator.cluster.clusters import gpu_node, group, raycluster, replicas

pytestmark = pytest.mark.ray

KEY = ("shotfarm", "shotfarm")


def test_the_worker_groups_scale_up_to_a_queued_sequence_and_back_down_when_it_is_done(ray_session, tmp_path):
    settings = FarmSettings(
        chunk_frames=2, farm=FarmConfig(classes=(H100, L40S)), pool=PoolSettings(wait_for_nodes=False)
    )
    groups = (group("gpu-h100", "h100", replicas=0), group("gpu-l40s", "l40s", replicas=0))
    nodes = [gpu_node("h-1", "NVIDIA-H100-80GB-HBM3", gpus=4), gpu_node("l-1", "NVIDIA-L40S", gpus=4)]
    api = FakeClusterAPI(nodes, {KEY: raycluster(*groups)})
    coordinator = start_coordinator(tmp_path / LOG_NAME, str(tmp_path), settings)
    seen: list[dict[str, int]] = []

    def demand() -> dict[str, int]:
        wanted = ray.get(coordinator.demand.remote(), timeout=30)
        seen.append(wanted)
        return wanted

    scaler = Scaler(api, demand, settings.prices, None, interval=0.05, name="shotfarm", namespace="shotfarm")
    try:
        scaler.start()
        # Queued before any render node exists, as on a cluster scaled to zero.
        sid = ray.get(coordinator.submit.remote(sequence(shot("sh010", 1001, 1008)).model_dump(mode="json")))
        scaled_up = wait_for(lambda: replicas(api) if any(replicas(api).values()) else None, 60)
        ray.get(coordinator.start.remote(2, 0), timeout=120)
        wait_for(lambda: ray.get(coordinator.progress.remote(sid), timeout=30).finished, 240)
        assert ray.get(coordinator.progress.remote(sid), timeout=30).status.value == "completed"
        wait_for(lambda: not any(replicas(api).values()), 30)  # the next passes see an empty queue
    finally:
        scaler.stop()
        ray.get(coordinator.shutdown.remote(), timeout=30)
        ray.kill(coordinator)
    assert scaled_up and scaled_up.get("gpu-h100", 0) >= 1  # the fastest class was wanted first
    assert max(d.get("h100", 0) for d in seen) >= 1
    assert replicas(api) == {"gpu-h100": 0, "gpu-l40s": 0}  # nothing queued: back to the minimum
    assert {} in seen[-3:]


def wait_for(check, seconds: float):
    """`check()` once it is truthy, or None after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    return None


def test_serve_in_cluster_mode_outside_a_cluster_is_exit_2_naming_the_flag(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SHOTFARM_TOKENS", "0123456789abcdef0123=*")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    code = main(["serve", "--cluster", "--out", str(tmp_path / "farm"), "--port", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "--cluster: no service account" in err and "Traceback" not in err


def test_serve_refuses_a_bad_farm_file_naming_the_field(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SHOTFARM_TOKENS", "0123456789abcdef0123=*")
    farm = tmp_path / "farm.yaml"
    farm.write_text("classes:\n  - name: h100\n    usd_per_hour: -2\n")
    code = main(["serve", "--farm", str(farm), "--out", str(tmp_path / "farm"), "--port", "0"])
    err = capsys.readouterr().err
    assert code == 2 and str(farm) in err and "classes[0].usd_per_hour" in err
