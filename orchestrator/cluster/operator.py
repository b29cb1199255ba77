"""The cluster-mode control loop: read the cluster, decide replicas, patch the RayCluster.

One pass is `reconcile`; `run` repeats it until told to stop, riding out
conflicts and API errors (the next pass reads the cluster again). The
RayCluster must have `enableInTreeAutoscaling: false`: with Ray's own
autoscaler on, two controllers would fight over `replicas`. A pass that
lowers a group reads the group's pods and where the farm's work is, and
names the idle pods to delete (scaling.scale_down).

Decisions live in discovery and scaling; this module only wires them to
the adapter and must never hold state between passes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from orchestrator.cluster.adapter import ClusterAPI, ClusterError
from orchestrator.cluster.discovery import ClassTable, Inventory, discover
from orchestrator.cluster.scaling import (
    GroupConfigError,
    Placement,
    ScaleDown,
    ScalePlan,
    busy_pods,
    plan_replicas,
    replicas_patch,
    scale_down,
    worker_groups,
)
from orchestrator.config.cost import PriceBook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reconciled:
    inventory: Inventory
    plan: ScalePlan
    patch: list[dict[str, Any]]
    """Empty when every group already had its desired replicas (nothing was sent)."""
    down: ScaleDown | None = None
    """What lowering groups kept and named, when a group was lowered with the farm's placement known."""


def reconcile(
    api: ClusterAPI,
    demand: Mapping[str, int],
    prices: PriceBook,
    budget: float | None = None,
    *,
    name: str = "shotfarm",
    namespace: str = "shotfarm",
    table: ClassTable | None = None,
    cap_to_nodes: bool = False,
    placement: Callable[[], Placement] | None = None,
) -> Reconciled:
    """One pass. `demand`: chunks wanting each GPU class; `budget`: USD per hour for GPU groups.

    `cap_to_nodes` limits each group to the GPUs its class has on existing
    nodes: right for a fixed on-premises pool, wrong where a node autoscaler
    adds nodes only for pending pods. `placement` says where the farm's
    work is; it is read only when a group is to be lowered, and without it
    a lowered group names no pods (KubeRay then picks them at random: only
    for a farm with no work in flight). Raises adapter errors (`Conflict`,
    `NotFound`) unchanged.
    """
    inventory = discover(api.list_nodes(), prices, table)
    groups = worker_groups(api.get_raycluster(name, namespace))
    capacity = inventory.gpus() if cap_to_nodes else None
    plan = plan_replicas(groups, demand, prices, budget, capacity)
    down = None
    if placement is not None and any(plan.replicas.get(g.name, g.replicas) < g.replicas for g in groups):
        pods = api.list_worker_pods(name, namespace)
        down = scale_down(groups, plan.replicas, pods, busy_pods(pods, placement()))
        plan = replace(plan, replicas=down.replicas)
    patch = replicas_patch(groups, plan.replicas, down.workers_to_delete if down else None)
    if patch:
        api.patch_raycluster(name, namespace, patch)
    if plan.over_budget:
        log.warning("GPU groups' minimum replicas cost %.2f USD/h, over the %.2f budget", plan.usd_per_hour, budget)
    for node_class in inventory.unpriced:
        log.warning("nodes of GPU class %s have no price in the price book; they are not scaled", node_class)
    return Reconciled(inventory, plan, patch, down)


def run(
    api: ClusterAPI,
    demand: Callable[[], Mapping[str, int]],
    prices: PriceBook,
    budget: float | None,
    stop: threading.Event,
    interval: float = 30.0,
    **options: Any,
) -> int:
    """Reconcile every `interval` seconds until `stop` is set; returns the passes that failed.

    A pass that cannot read the demand (the farm is busy or restarting) or the
    cluster changes nothing; the next pass reads both again.
    """
    failures = 0
    while not stop.is_set():
        try:
            reconcile(api, demand(), prices, budget, **options)
        except ClusterError as e:
            failures += 1
            log.warning("reconcile pass failed, retrying next pass: %s", e)
        except GroupConfigError as e:
            failures += 1
            log.error("the RayCluster's worker groups cannot be scaled: %s", e)
        except Exception as e:  # reading the demand or the placement from the farm
            failures += 1
            log.warning("reconcile pass skipped, no demand or placement from the farm: %s", e)
        stop.wait(interval)
    return failures


class Scaler:
    """`run` on a daemon thread, for `shotfarm serve --cluster`."""

    def __init__(
        self,
        api: ClusterAPI,
        demand: Callable[[], Mapping[str, int]],
        prices: PriceBook,
        budget: float | None,
        interval: float,
        **options: Any,
    ):
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=run,
            args=(api, demand, prices, budget, self._stop, interval),
            kwargs=options,
            name="shotfarm-scaler",
            daemon=True,
        )

    def start(self) -> Scaler:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
