"""Where the farm's render nodes run in the Ray cluster: what a scale-down must spare.

The Ray side of scale-down safety (the Kubernetes side is the adapter):
the Ray nodes alive with their address and labels, and the Ray node each
render node actor is placed on. Read from Ray's control store (GCS), so it
answers at once even while the nodes are busy rendering: asking a render
node itself would queue behind its chunk.

It decides nothing; scaling.busy_pods and scaling.scale_down do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import ray
import ray._private.state as ray_state  # the actor table: the public state API needs the dashboard, which workers lack

from orchestrator.cluster.scaling import Placement, RayNode


def ray_nodes() -> tuple[RayNode, ...]:
    """The Ray nodes alive, each with its address (a pod's IP in KubeRay) and labels."""
    return tuple(RayNode(node_id=n["NodeID"], address=n["NodeManagerAddress"], labels=dict(n.get("Labels") or {})) for n in ray.nodes() if n.get("Alive"))


def hosts(actors: Mapping[str, Any]) -> dict[str, str]:
    """Render node id -> the Ray node its actor runs on, for the actors alive (a restarting or pending one has none)."""
    found = {}
    for node_id, handle in actors.items():
        entry = ray_state.actors(actor_id=handle._actor_id.hex())
        if entry and entry.get("State") == "ALIVE":
            found[node_id] = entry["Address"]["NodeID"]
    return found


def placement(holding: Iterable[str]) -> Placement:
    """The Ray nodes alive, with `holding` (the Ray node ids whose render nodes hold chunks in flight)."""
    return Placement(ray_nodes=ray_nodes(), holding=frozenset(holding))
