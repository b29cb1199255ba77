"""How many replicas each KubeRay GPU worker group should have.

Pure: the RayCluster as read, the chunks wanting each GPU class and an
hourly budget in; desired replicas per worker group and the JSON patch that
sets them out. A worker group is tied to a class by its pod template label
`shotfarm.io/gpu-class`; groups without it (CPU helpers) are never touched.

The policy: enough replicas that every chunk wanting a class has a GPU,
within the group's minReplicas/maxReplicas; under a budget, replicas are
granted one at a time, the cheapest replica first, round after round, so
every class makes progress and the bill stays under the cap. minReplicas
is a floor the budget cannot lower (the cluster's owner set it).

It must never read the cluster or the clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.config.cost import PriceBook

CLASS_LABEL = "shotfarm.io/gpu-class"
GPU_RESOURCE = "nvidia.com/gpu"


@dataclass(frozen=True)
class WorkerGroup:
    name: str
    index: int
    """Position in spec.workerGroupSpecs: the JSON patch addresses groups by index."""
    gpu_class: str | None
    replicas: int
    min_replicas: int
    max_replicas: int
    gpus_per_replica: int


@dataclass(frozen=True)
class ScalePlan:
    replicas: Mapping[str, int]
    """Desired replicas by group name, for every group with a GPU class."""
    usd_per_hour: float
    over_budget: bool
    """The groups' minimums alone cost more than the budget."""


class GroupConfigError(ValueError):
    pass


def worker_groups(raycluster: Mapping[str, Any]) -> list[WorkerGroup]:
    groups = []
    for i, spec in enumerate(raycluster.get("spec", {}).get("workerGroupSpecs", [])):
        template = spec.get("template", {})
        labels = template.get("metadata", {}).get("labels", {}) or {}
        gpus = sum(
            int((c.get("resources", {}).get("limits", {}) or {}).get(GPU_RESOURCE, 0))
            for c in template.get("spec", {}).get("containers", [])
        )
        minimum = int(spec.get("minReplicas", 0))
        groups.append(
            WorkerGroup(
                name=spec["groupName"],
                index=i,
                gpu_class=labels.get(CLASS_LABEL),
                replicas=int(spec.get("replicas", minimum)),
                min_replicas=minimum,
                max_replicas=int(spec.get("maxReplicas", minimum)),
                gpus_per_replica=gpus,
            )
        )
    _check(groups)
    return groups


def _check(groups: list[WorkerGroup]) -> None:
    seen: dict[str, str] = {}
    for g in groups:
        if g.gpu_class is None:
            continue
        if g.gpu_class in seen:
            raise GroupConfigError(f"worker groups {seen[g.gpu_class]} and {g.name} both serve {g.gpu_class}")
        if g.gpus_per_replica < 1:
            raise GroupConfigError(f"worker group {g.name} is labelled {g.gpu_class} but asks for no {GPU_RESOURCE}")
        if g.min_replicas > g.max_replicas:
            bounds = f"minReplicas {g.min_replicas} > maxReplicas {g.max_replicas}"
            raise GroupConfigError(f"worker group {g.name}: {bounds}")
        seen[g.gpu_class] = g.name


def wanted(group: WorkerGroup, demand: Mapping[str, int], capacity: Mapping[str, int] | None) -> int:
    """Replicas for the group's demand (one chunk renders per GPU), within its bounds and the GPUs that exist."""
    assert group.gpu_class is not None
    need = math.ceil(max(0, demand.get(group.gpu_class, 0)) / group.gpus_per_replica)
    ceiling = group.max_replicas
    if capacity is not None:
        ceiling = min(ceiling, capacity.get(group.gpu_class, 0) // group.gpus_per_replica)
    return max(group.min_replicas, min(need, ceiling))


def plan_replicas(
    groups: list[WorkerGroup],
    demand: Mapping[str, int],
    prices: PriceBook,
    budget_usd_per_hour: float | None = None,
    capacity: Mapping[str, int] | None = None,
) -> ScalePlan:
    """Desired replicas per GPU group. `capacity` (GPUs per class that exist) caps growth when given."""
    gpu_groups = [g for g in groups if g.gpu_class is not None]
    cost = {g.name: prices.rate(g.gpu_class) * g.gpus_per_replica for g in gpu_groups}  # type: ignore[arg-type]
    target = {g.name: wanted(g, demand, capacity) for g in gpu_groups}
    replicas = {g.name: g.min_replicas for g in gpu_groups}
    spend = sum(cost[n] * r for n, r in replicas.items())
    budget = math.inf if budget_usd_per_hour is None else budget_usd_per_hour
    over = spend > budget
    order = sorted(gpu_groups, key=lambda g: (cost[g.name], g.name))
    granted = True
    while granted:
        granted = False
        for g in order:
            if replicas[g.name] < target[g.name] and spend + cost[g.name] <= budget + 1e-9:
                replicas[g.name] += 1
                spend += cost[g.name]
                granted = True
    return ScalePlan(replicas=replicas, usd_per_hour=spend, over_budget=over)


def replicas_patch(groups: list[WorkerGroup], replicas: Mapping[str, int]) -> list[dict[str, Any]]:
    """A JSON patch setting `replicas` on the groups that change, each guarded by a test of its name.

    The test makes the API server refuse the whole patch if the groups were
    reordered since they were read, instead of scaling the wrong group.
    `add` sets the member whether or not the group spec had one.
    """
    ops: list[dict[str, Any]] = []
    for g in groups:
        if g.name in replicas and replicas[g.name] != g.replicas:
            base = f"/spec/workerGroupSpecs/{g.index}"
            ops.append({"op": "test", "path": f"{base}/groupName", "value": g.name})
            ops.append({"op": "add", "path": f"{base}/replicas", "value": replicas[g.name]})
    return ops
