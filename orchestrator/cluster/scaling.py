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

Scale-down never takes a busy GPU. With enableInTreeAutoscaling false,
KubeRay meets a lowered `replicas` by deleting the pods named in the
group's `scaleStrategy.workersToDelete` first, then random ones. So a
lowered group names exactly the pods to go, all idle (no render node on
their Ray node holds a chunk), and its replicas never drop below its busy
pods: nothing is left for KubeRay to choose at random. A pod is matched
to its Ray node by the Ray node label `shotfarm.io/pod` (the pod's name,
which the manifests set), else by the pod IP, the address a Ray node in a
pod has.

It must never read the cluster or the clock.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.cluster.adapter import WorkerPod
from orchestrator.config.cost import PriceBook

CLASS_LABEL = "shotfarm.io/gpu-class"
GPU_RESOURCE = "nvidia.com/gpu"
POD_LABEL = "shotfarm.io/pod"
"""The Ray node label naming the pod a Ray node runs in (`ray start --labels`)."""


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


@dataclass(frozen=True)
class RayNode:
    node_id: str
    address: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Placement:
    """Where the farm's work is, as a scale-down needs it."""

    ray_nodes: tuple[RayNode, ...]
    """The Ray nodes alive."""
    holding: frozenset[str]
    """Ray node ids where a render node holds a chunk in flight (rendering, or sent and waiting)."""


@dataclass(frozen=True)
class ScaleDown:
    replicas: Mapping[str, int]
    """The plan's replicas, a lowered group's kept at or above its busy pods."""
    workers_to_delete: Mapping[str, tuple[str, ...]]
    """Pods to remove, by group name: for each lowered group, exactly as many idle pods as it sheds."""


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


def replicas_patch(
    groups: list[WorkerGroup], replicas: Mapping[str, int], workers_to_delete: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, Any]]:
    """A JSON patch setting `replicas` on the groups that change, each guarded by a test of its name.

    The test makes the API server refuse the whole patch if the groups were
    reordered since they were read, instead of scaling the wrong group.
    `add` sets the member whether or not the group spec had one. A group
    with pods to delete gets its `scaleStrategy.workersToDelete` in the same
    patch, so KubeRay never sees the lower replicas without the names.
    """
    ops: list[dict[str, Any]] = []
    going = workers_to_delete or {}
    for g in groups:
        if g.name in replicas and replicas[g.name] != g.replicas:
            base = f"/spec/workerGroupSpecs/{g.index}"
            ops.append({"op": "test", "path": f"{base}/groupName", "value": g.name})
            ops.append({"op": "add", "path": f"{base}/replicas", "value": replicas[g.name]})
            if going.get(g.name):
                ops.append({"op": "add", "path": f"{base}/scaleStrategy", "value": {"workersToDelete": list(going[g.name])}})
    return ops


def busy_pods(pods: Sequence[WorkerPod], placement: Placement) -> frozenset[str]:
    """Names of the pods whose Ray node holds a chunk in flight (matched by the pod label, else the pod IP)."""
    by_label = {n.labels[POD_LABEL]: n.node_id for n in placement.ray_nodes if POD_LABEL in n.labels}
    by_address = {n.address: n.node_id for n in placement.ray_nodes}
    busy = set()
    for pod in pods:
        node = by_label.get(pod.name) or (by_address.get(pod.ip) if pod.ip else None)
        if node is not None and node in placement.holding:
            busy.add(pod.name)
    return frozenset(busy)


def scale_down(groups: list[WorkerGroup], replicas: Mapping[str, int], pods: Sequence[WorkerPod], busy: Collection[str]) -> ScaleDown:
    """Lower each group no further than its busy pods, naming the idle pods that go.

    A group keeps `max(planned, busy)` replicas and names every pod beyond
    that: after KubeRay deletes them the pods left are exactly its replicas,
    so it deletes none at random. Pods already being deleted are not
    counted. Pods not running yet go first, then idle ones by name.
    """
    kept = dict(replicas)
    named: dict[str, tuple[str, ...]] = {}
    for g in groups:
        if g.name not in replicas or replicas[g.name] >= g.replicas:
            continue
        members = [p for p in pods if p.group == g.name and not p.deleting]
        idle = sorted((p for p in members if p.name not in busy), key=lambda p: (p.phase == "Running", p.name))
        keep = min(g.replicas, max(replicas[g.name], len(members) - len(idle)))
        kept[g.name] = keep
        going = tuple(p.name for p in idle[: max(0, len(members) - keep)])
        if going:
            named[g.name] = going
    return ScaleDown(kept, named)
