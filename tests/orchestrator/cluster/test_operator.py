"""The reconcile loop against the in-memory cluster: read, decide, patch."""

from __future__ import annotations

import threading

import pytest

from orchestrator.cluster.adapter import ClusterError, FakeClusterAPI, NotFound
from orchestrator.cluster.operator import reconcile, run
from orchestrator.config.cost import PriceBook
from tests.orchestrator.cluster.clusters import cpu_node, gpu_node, group, raycluster, replicas

PRICES = PriceBook(usd_per_hour={"cpu": 0.05, "a10g": 1.0, "l40s": 2.0, "h100": 4.0})
NODES = [gpu_node("h-1", "NVIDIA-H100-80GB-HBM3", gpus=2), gpu_node("a-1", "NVIDIA-A10G"), cpu_node("c-1")]
KEY = ("shotfarm", "shotfarm")


def cluster(*groups) -> FakeClusterAPI:
    return FakeClusterAPI(NODES, {KEY: raycluster(*groups)})


def test_demand_scales_groups_up_and_no_demand_back_to_their_minimum():
    api = cluster()
    reconcile(api, {"h100": 4, "a10g": 2}, PRICES)
    assert replicas(api) == {"gpu-h100": 4, "gpu-l40s": 1, "gpu-a10g": 2, "cpu-helpers": 2}
    reconcile(api, {}, PRICES)
    assert replicas(api) == {"gpu-h100": 0, "gpu-l40s": 1, "gpu-a10g": 0, "cpu-helpers": 2}
    assert len(api.patches) == 2


def test_a_pass_that_changes_nothing_patches_nothing():
    api = cluster()
    done = reconcile(api, {"l40s": 1}, PRICES)
    assert done.patch == [] and api.patches == []


def test_the_budget_caps_the_hourly_spend_of_the_groups():
    api = cluster(group("gpu-h100", "h100", replicas=0), group("gpu-a10g", "a10g", replicas=0))
    done = reconcile(api, {"h100": 10, "a10g": 10}, PRICES, budget=10.0)
    assert replicas(api) == {"gpu-h100": 2, "gpu-a10g": 2}
    assert done.plan.usd_per_hour == pytest.approx(10.0)


def test_capping_to_nodes_limits_a_class_to_the_gpus_it_has():
    api = cluster(group("gpu-h100", "h100", replicas=0), group("gpu-l40s", "l40s", replicas=0))
    reconcile(api, {"h100": 10, "l40s": 3}, PRICES, cap_to_nodes=True)
    assert replicas(api) == {"gpu-h100": 2, "gpu-l40s": 0}  # two H100s exist, no L40S


def test_unpriced_nodes_are_reported_and_left_alone(caplog):
    api = FakeClusterAPI([*NODES, gpu_node("x-1", "NVIDIA-H200", gpus=8)], {KEY: raycluster()})
    done = reconcile(api, {}, PRICES)
    assert done.inventory.unpriced == ("h200",)
    assert "h200 have no price" in caplog.text


def test_a_missing_raycluster_is_an_error_the_caller_sees():
    with pytest.raises(NotFound):
        reconcile(FakeClusterAPI(NODES, {}), {"h100": 1}, PRICES)


def test_the_loop_rides_out_failed_passes_until_stopped():
    api = FakeClusterAPI(NODES, {})
    stop = threading.Event()
    calls = []

    def demand():
        calls.append(1)
        if len(calls) == 2:
            api.rayclusters[KEY] = raycluster()  # the cluster appears after the first pass
        if len(calls) == 3:
            stop.set()
        return {"h100": 1}

    failures = run(api, demand, PRICES, None, stop, interval=0.0)
    assert failures == 1 and len(calls) == 3
    assert replicas(api)["gpu-h100"] == 1
    assert issubclass(NotFound, ClusterError)
