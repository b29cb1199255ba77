"""RayClusters and nodes that the cluster-mode tests build on."""

from __future__ import annotations

from typing import Any

from orchestrator.cluster.adapter import ClusterNode, FakeClusterAPI


def group(
    name: str, gpu_class: str | None, gpus: int = 1, lo: int = 0, hi: int = 8, replicas: int | None = None
) -> dict:
    limits: dict[str, Any] = {"cpu": "8", "memory": "32Gi"}
    if gpus:
        limits["nvidia.com/gpu"] = str(gpus)
    labels = {"shotfarm.io/gpu-class": gpu_class} if gpu_class else {}
    spec: dict[str, Any] = {
        "groupName": name,
        "minReplicas": lo,
        "maxReplicas": hi,
        "rayStartParams": {},
        "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "ray-worker", "image": "shotfarm", "resources": {"limits": limits}}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return spec


def raycluster(*groups: dict, name: str = "shotfarm", namespace: str = "shotfarm") -> dict:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "enableInTreeAutoscaling": False,
            "headGroupSpec": {"rayStartParams": {"num-cpus": "0"}, "template": {"spec": {"containers": []}}},
            "workerGroupSpecs": list(groups)
            or [
                group("gpu-h100", "h100", replicas=0),
                group("gpu-l40s", "l40s", replicas=1, lo=1),
                group("gpu-a10g", "a10g", replicas=0, hi=4),
                group("cpu-helpers", None, gpus=0, replicas=2, lo=2, hi=2),
            ],
        },
    }


def gpu_node(name: str, product: str, gpus: int = 1, **labels: str) -> ClusterNode:
    return ClusterNode(name=name, labels={"nvidia.com/gpu.product": product, **labels}, gpus=gpus)


def cpu_node(name: str) -> ClusterNode:
    return ClusterNode(name=name, labels={"node.kubernetes.io/instance-type": "m6i.2xlarge"}, gpus=0)


def replicas(api: FakeClusterAPI, name: str = "shotfarm", namespace: str = "shotfarm") -> dict[str, int]:
    """Each worker group's replicas in the in-memory cluster, by group name."""
    return {g["groupName"]: g.get("replicas") for g in api.rayclusters[(namespace, name)]["spec"]["workerGroupSpecs"]}
