"""Scaling: demand and budget to replicas per worker group, and the patch. Pure."""

from __future__ import annotations

import pytest

from orchestrator.cluster.adapter import Conflict, apply_json_patch
from orchestrator.cluster.scaling import GroupConfigError, plan_replicas, replicas_patch, worker_groups
from orchestrator.config.cost import PriceBook
from tests.orchestrator.cluster.clusters import group, raycluster

PRICES = PriceBook(usd_per_hour={"cpu": 0.05, "a10g": 1.0, "l40s": 2.0, "h100": 4.0})


def groups(*specs):
    return worker_groups(raycluster(*specs))


def test_worker_groups_are_read_with_class_bounds_and_gpus_per_replica():
    read = {g.name: g for g in worker_groups(raycluster())}
    assert read["gpu-h100"].gpu_class == "h100" and read["gpu-h100"].gpus_per_replica == 1
    assert (read["gpu-l40s"].min_replicas, read["gpu-l40s"].replicas) == (1, 1)
    assert read["gpu-a10g"].max_replicas == 4
    assert read["cpu-helpers"].gpu_class is None
    assert [g.index for g in read.values()] == [0, 1, 2, 3]


def test_a_group_without_replicas_starts_at_its_minimum():
    (g,) = groups(group("gpu-h100", "h100", lo=2, hi=4))
    assert g.replicas == 2


@pytest.mark.parametrize(
    "specs, message",
    [
        ([group("a", "h100"), group("b", "h100")], "both serve h100"),
        ([group("a", "h100", gpus=0)], "asks for no nvidia.com/gpu"),
        ([group("a", "h100", lo=3, hi=2)], "minReplicas 3 > maxReplicas 2"),
    ],
)
def test_a_misconfigured_group_is_refused_with_a_reason(specs, message):
    with pytest.raises(GroupConfigError, match=message):
        groups(*specs)


@pytest.mark.parametrize(
    "demand, expected",
    [
        ({}, {"gpu-h100": 0, "gpu-l40s": 1, "gpu-a10g": 0}),  # the l40s minimum stays
        ({"h100": 3}, {"gpu-h100": 3, "gpu-l40s": 1, "gpu-a10g": 0}),
        ({"h100": 50, "a10g": 50}, {"gpu-h100": 8, "gpu-l40s": 1, "gpu-a10g": 4}),  # maxReplicas
        ({"l40s": 5, "cpu": 9}, {"gpu-h100": 0, "gpu-l40s": 5, "gpu-a10g": 0}),
        ({"h100": -2}, {"gpu-h100": 0, "gpu-l40s": 1, "gpu-a10g": 0}),
    ],
)
def test_without_a_budget_every_chunk_gets_a_gpu_within_min_and_max(demand, expected):
    plan = plan_replicas(worker_groups(raycluster()), demand, PRICES)
    assert dict(plan.replicas) == expected
    assert not plan.over_budget


def test_a_replica_with_several_gpus_takes_that_many_chunks():
    plan = plan_replicas(groups(group("gpu-h100", "h100", gpus=8, hi=4)), {"h100": 17}, PRICES)
    assert plan.replicas == {"gpu-h100": 3}
    assert plan.usd_per_hour == pytest.approx(3 * 8 * 4.0)


def test_under_a_budget_replicas_are_granted_cheapest_first_round_by_round():
    specs = [group("gpu-h100", "h100"), group("gpu-l40s", "l40s"), group("gpu-a10g", "a10g")]
    plan = plan_replicas(groups(*specs), {"h100": 5, "l40s": 5, "a10g": 5}, PRICES, budget_usd_per_hour=15.0)
    # Round 1: a10g 1, l40s 2, h100 4 (7 USD/h); round 2 the same (14); round 3: a10g 1 (15).
    assert plan.replicas == {"gpu-h100": 2, "gpu-l40s": 2, "gpu-a10g": 3}
    assert plan.usd_per_hour == pytest.approx(15.0)
    assert not plan.over_budget


def test_the_budget_never_lowers_a_groups_minimum_and_says_so():
    plan = plan_replicas(groups(group("gpu-h100", "h100", lo=3)), {"h100": 10}, PRICES, budget_usd_per_hour=5.0)
    assert plan.replicas == {"gpu-h100": 3}
    assert plan.over_budget and plan.usd_per_hour == pytest.approx(12.0)


def test_capacity_caps_growth_at_the_gpus_that_exist():
    plan = plan_replicas(groups(group("gpu-h100", "h100", gpus=2)), {"h100": 20}, PRICES, capacity={"h100": 5})
    assert plan.replicas == {"gpu-h100": 2}


def test_a_group_whose_class_has_no_price_is_an_error_not_free():
    with pytest.raises(KeyError, match="h200"):
        plan_replicas(groups(group("gpu-h200", "h200")), {"h200": 1}, PRICES)


def test_the_patch_sets_only_changed_groups_each_guarded_by_its_name():
    read = worker_groups(raycluster())
    patch = replicas_patch(read, {"gpu-h100": 3, "gpu-l40s": 1, "gpu-a10g": 0})
    assert patch == [
        {"op": "test", "path": "/spec/workerGroupSpecs/0/groupName", "value": "gpu-h100"},
        {"op": "add", "path": "/spec/workerGroupSpecs/0/replicas", "value": 3},
    ]
    assert replicas_patch(read, {"gpu-h100": 0, "gpu-l40s": 1, "gpu-a10g": 0}) == []


def test_applied_the_patch_sets_replicas_even_where_the_group_had_none():
    cluster = raycluster(group("gpu-h100", "h100"), group("gpu-a10g", "a10g"))
    patched = apply_json_patch(cluster, replicas_patch(worker_groups(cluster), {"gpu-h100": 2, "gpu-a10g": 1}))
    assert [g["replicas"] for g in patched["spec"]["workerGroupSpecs"]] == [2, 1]
    assert "replicas" not in cluster["spec"]["workerGroupSpecs"][0]  # the input is not mutated


def test_a_patch_read_before_the_groups_were_reordered_is_refused_whole():
    cluster = raycluster(group("gpu-h100", "h100"), group("gpu-a10g", "a10g"))
    patch = replicas_patch(worker_groups(cluster), {"gpu-h100": 2, "gpu-a10g": 1})
    cluster["spec"]["workerGroupSpecs"].reverse()
    with pytest.raises(Conflict):
        apply_json_patch(cluster, patch)
