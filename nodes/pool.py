"""Pools of node actors: one long-lived RenderNode per CPU slot or GPU, one pool per class.

GPU work lives in actors, not tasks: Ray gives a task with num_gpus a fresh
process per call, which would reload the engine for every chunk. Every call
made here has a timeout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ray

from nodes import busy
from nodes.actors import render
from nodes.actors.master import MasterNode
from nodes.errors import Draining
from nodes.protocol import ChunkOrder, ChunkResult


class RenderNode(render.RenderNode):
    """The render node as Ray hosts it: a graceful stop closes its engines and scratch folder,
    its scratch folder is marked while it renders (what a pod's preStop hook waits on, nodes.busy),
    and on a machine that drains it refuses every new chunk (nodes.errors.Draining)."""

    def render(self, order: ChunkOrder) -> ChunkResult:
        # Marked before the drain is checked: a preStop that marks the machine draining and then
        # finds no render mark knows that every chunk starting after it will see its mark.
        with busy.rendering(self.scratch):
            if self.draining():
                raise Draining(f"{self.node_id} refuses chunk {order.chunk_id}: its machine is being stopped")
            return super().render(order)

    def draining(self) -> bool:
        """Whether this node's machine is being stopped (a render node restarted on another machine is not)."""
        return busy.draining(self.scratch.parent)

    def __ray_shutdown__(self) -> None:  # called by Ray when the actor is terminated gracefully
        self.close()


@dataclass(frozen=True)
class NodeSlot:
    node_id: str
    gpu_class: str
    device: str
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    resources: dict[str, float] = field(default_factory=dict)


def local_slots(cpus: int, gpus: int, cpu_nodes: int = 0, gpu_nodes: int = 0) -> list[NodeSlot]:
    """One node per GPU when there are GPUs, else one per CPU."""
    if gpus >= 1:
        n = gpu_nodes or gpus
        return [NodeSlot(f"gpu-{i}", "gpu", "cuda", num_cpus=0.0, num_gpus=1.0) for i in range(n)]
    n = cpu_nodes or max(1, cpus)
    return [NodeSlot(f"cpu-{i}", "cpu", "cpu") for i in range(n)]


@dataclass(frozen=True)
class ClassPool:
    """A pool of one node class, as the data plane needs to place it."""

    name: str
    count: int
    resource: str | None = None
    """Ray custom resource each node takes one of; on a cluster each GPU worker group offers its class's."""
    gpus: float = 0.0
    cpus: float = 1.0


def class_slots(pools: list[ClassPool]) -> list[NodeSlot]:
    """One node per count of each class, placed by its Ray resource (a real GPU when gpus > 0)."""
    return [
        NodeSlot(
            f"{p.name}-{i}",
            p.name,
            "cuda" if p.gpus > 0 else "cpu",
            num_cpus=p.cpus,
            num_gpus=p.gpus,
            resources={p.resource: 1.0} if p.resource else {},
        )
        for p in pools
        for i in range(p.count)
    ]


def start_render_nodes(
    slots: list[NodeSlot], store_url: str, threads: int, timeout: float, wait: bool = True
) -> dict[str, Any]:
    """Start the actors and wait (bounded) until each answers.

    Without `wait`, actors whose resources do not exist yet stay pending until
    they do (a worker group scaled up to the queue); calls sent to them queue.
    """
    handles = {}
    for s in slots:
        handles[s.node_id] = (
            ray.remote(RenderNode)
            .options(
                num_cpus=s.num_cpus,
                num_gpus=s.num_gpus,
                resources=s.resources or None,
                max_restarts=-1,
                max_task_retries=0,
            )
            .remote(s.node_id, store_url, s.device, threads)
        )
    if wait:
        ray.get([h.ping.remote() for h in handles.values()], timeout=timeout)
    return handles


CLOSE_GRACE_S = 10.0
"""How long stopping waits for nodes to close. A node mid-chunk closes only once the chunk is
done, and an interrupted farm should not wait out a long chunk: its scratch folder is swept by
the next node on the machine instead."""


def stop_render_nodes(handles: dict[str, Any], timeout: float = CLOSE_GRACE_S) -> None:
    """Close every node (its engines' warm processes, device memory, scratch folder), waiting
    at most `timeout` for all of them, then end their processes."""
    if not handles:
        return
    calls = [h.close.remote() for h in handles.values()]
    ray.wait(calls, num_returns=len(calls), timeout=timeout)
    for h in handles.values():
        ray.kill(h, no_restart=True)


HEAD_RESOURCE = "node:__internal_head__"
"""Ray gives the head node this resource: how a Ray node is known to be the head."""


def on_head() -> Any:
    """Where an actor on no reserved CPU should live: on the head, which no scale-down removes.

    A master or check node that Ray put on a GPU worker pod would be lost with the pod when the
    scaler lowers its group, and the sequence it was stitching or checking would fail. Not soft:
    Ray 2.60 placed a soft-pinned actor started from a worker on that worker even with the head
    free, and a cluster without its head has no GCS, so a hard pin never waits for a head that
    cannot come back.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    head = next((n["NodeID"] for n in ray.nodes() if n["Alive"] and HEAD_RESOURCE in n["Resources"]), None)
    return "DEFAULT" if head is None else NodeAffinitySchedulingStrategy(head, soft=False)


def start_master_node(store_url: str, timeout: float, wait: bool = False) -> Any:
    """The master node. It stitches as shots finish, on no reserved CPU so it
    never waits behind render nodes that hold every core.

    Not waited for by default: it starts while the first chunks render (its
    first call queues until it is up), so its start-up is off the critical
    path; a master that cannot start fails its first stitch, which says why.
    """
    handle = ray.remote(MasterNode).options(num_cpus=0, max_restarts=-1, scheduling_strategy=on_head()).remote(store_url)
    if wait:
        ray.get(handle.__ray_ready__.remote(), timeout=timeout)
    return handle


def start_check_node(store_url: str, gpus: int, timeout: float, wait: bool = False) -> Any:
    """The continuity checker: a sliver of a GPU when there is one (its work is
    a few reductions per frame pair), else no reserved CPU so it never waits
    behind render nodes. Not waited for by default, as the master node."""
    from nodes.actors.check import CheckNode

    options: dict[str, Any] = {"num_cpus": 0, "max_restarts": -1, "scheduling_strategy": on_head()}
    device = "cpu"
    if gpus >= 1:  # a GPU pod, then: one a scale-down may take, after which Ray starts it again elsewhere
        options["num_gpus"], device, options["scheduling_strategy"] = 0.1, "cuda", "DEFAULT"
    handle = ray.remote(CheckNode).options(**options).remote(store_url, device)
    if wait:
        ray.get(handle.__ray_ready__.remote(), timeout=timeout)
    return handle
