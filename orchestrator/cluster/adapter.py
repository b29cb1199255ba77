"""The Kubernetes calls cluster mode makes, behind one small Protocol.

`KubeClusterAPI` is the only module in the farm that imports the official
`kubernetes` client; `FakeClusterAPI` keeps the same contract in memory for
tests. The contract is four calls: list nodes (labels and allocatable
GPUs), list a RayCluster's worker pods (what a scale-down chooses among),
get a RayCluster, JSON-patch a RayCluster. Errors come back typed:
`NotFound`, and `Conflict` when a patch's `test` operation no longer holds
(someone changed the object since it was read; read again next pass).

This module decides nothing and must never grow policy.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

GPU_RESOURCE = "nvidia.com/gpu"
RAY_GROUP, RAY_VERSION, RAY_CLUSTERS = "ray.io", "v1", "rayclusters"
JSON_PATCH = "application/json-patch+json"
CLUSTER_LABEL, GROUP_LABEL, NODE_TYPE_LABEL = "ray.io/cluster", "ray.io/group", "ray.io/node-type"


def worker_selector(raycluster: str) -> str:
    """The label selector of a RayCluster's worker pods, as KubeRay labels them."""
    return f"{CLUSTER_LABEL}={raycluster},{NODE_TYPE_LABEL}=worker"


@dataclass(frozen=True)
class ClusterNode:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    gpus: int = 0
    """Allocatable `nvidia.com/gpu` on the node."""


@dataclass(frozen=True)
class WorkerPod:
    """A RayCluster's worker pod as KubeRay labels it."""

    name: str
    group: str
    """Its worker group (label `ray.io/group`)."""
    ip: str | None = None
    """The pod IP once it has one: a Ray node started in the pod has it as its address."""
    labels: Mapping[str, str] = field(default_factory=dict)
    phase: str = "Pending"
    deleting: bool = False
    """Has a deletion timestamp: already on its way out, whatever its phase."""


class ClusterError(RuntimeError):
    pass


class NotFound(ClusterError):
    pass


class Conflict(ClusterError):
    """The object changed since it was read; the patch was not applied."""


class ClusterAPI(Protocol):
    def list_nodes(self) -> list[ClusterNode]: ...

    def list_worker_pods(self, name: str, namespace: str) -> list[WorkerPod]:
        """The worker pods KubeRay made for the RayCluster (labels `ray.io/cluster`, `ray.io/node-type=worker`)."""
        ...

    def get_raycluster(self, name: str, namespace: str) -> dict[str, Any]: ...

    def patch_raycluster(self, name: str, namespace: str, patch: list[dict[str, Any]]) -> dict[str, Any]:
        """Apply an RFC 6902 JSON patch; returns the object after it."""
        ...


class KubeClusterAPI:
    """The real API server through the official client."""

    def __init__(self, api_client: k8s.ApiClient, page_size: int = 500):
        self._core = k8s.CoreV1Api(api_client)
        self._custom = k8s.CustomObjectsApi(api_client)
        self._page_size = page_size

    @classmethod
    def in_cluster(cls) -> KubeClusterAPI:
        """From the pod's service account (the orchestrator Deployment)."""
        try:
            k8s_config.load_incluster_config()
        except k8s_config.ConfigException as e:
            raise ClusterError(f"no service account to reach the Kubernetes API with ({e})") from None
        return cls(k8s.ApiClient())

    @classmethod
    def from_kubeconfig(cls, context: str | None = None) -> KubeClusterAPI:
        try:
            return cls(k8s_config.new_client_from_config(context=context))
        except k8s_config.ConfigException as e:
            raise ClusterError(f"kubeconfig context {context or '(current)'}: {e}") from None

    def list_nodes(self) -> list[ClusterNode]:
        nodes: list[ClusterNode] = []
        token: str | None = None
        while True:
            # Paged: a large farm's node list is megabytes in one response.
            page = self._core.list_node(limit=self._page_size, _continue=token)
            for item in page.items:
                allocatable = (item.status.allocatable if item.status else None) or {}
                nodes.append(
                    ClusterNode(
                        name=item.metadata.name,
                        labels=dict(item.metadata.labels or {}),
                        gpus=int(allocatable.get(GPU_RESOURCE, "0")),
                    )
                )
            token = page.metadata._continue if page.metadata else None
            if not token:
                return nodes

    def list_worker_pods(self, name: str, namespace: str) -> list[WorkerPod]:
        pods: list[WorkerPod] = []
        token: str | None = None
        while True:
            page = self._core.list_namespaced_pod(
                namespace, label_selector=worker_selector(name), limit=self._page_size, _continue=token
            )
            for item in page.items:
                labels = dict(item.metadata.labels or {})
                status = item.status
                pods.append(
                    WorkerPod(
                        name=item.metadata.name,
                        group=labels.get(GROUP_LABEL, ""),
                        ip=(status.pod_ip if status else None) or None,
                        labels=labels,
                        phase=(status.phase if status else None) or "Pending",
                        deleting=item.metadata.deletion_timestamp is not None,
                    )
                )
            token = page.metadata._continue if page.metadata else None
            if not token:
                return pods

    def get_raycluster(self, name: str, namespace: str) -> dict[str, Any]:
        try:
            return self._custom.get_namespaced_custom_object(RAY_GROUP, RAY_VERSION, namespace, RAY_CLUSTERS, name)
        except ApiException as e:
            raise _typed(e, f"raycluster {namespace}/{name}") from None

    def patch_raycluster(self, name: str, namespace: str, patch: list[dict[str, Any]]) -> dict[str, Any]:
        try:
            return self._custom.patch_namespaced_custom_object(
                RAY_GROUP, RAY_VERSION, namespace, RAY_CLUSTERS, name, patch, _content_type=JSON_PATCH
            )
        except ApiException as e:
            raise _typed(e, f"raycluster {namespace}/{name}") from None


def _typed(e: ApiException, what: str) -> ClusterError:
    if e.status == 404:
        return NotFound(f"{what} not found")
    # 422: a JSON patch `test` failed; 409: a write raced ours.
    if e.status in (409, 422):
        return Conflict(f"{what} changed since it was read ({e.status})")
    return ClusterError(f"{what}: {e.status} {e.reason}")


class FakeClusterAPI:
    """In memory: nodes, worker pods and RayClusters the test sets up, and every patch applied.

    `pods` are by namespace; a pod belongs to a RayCluster by its labels, as
    on the real API server (`worker_pod` labels one the way KubeRay does).
    """

    def __init__(
        self,
        nodes: list[ClusterNode] | None = None,
        rayclusters: dict[tuple[str, str], dict] | None = None,
        pods: dict[str, list[WorkerPod]] | None = None,
    ):
        self.nodes = list(nodes or [])
        self.rayclusters = {k: copy.deepcopy(v) for k, v in (rayclusters or {}).items()}
        self.pods = {ns: list(found) for ns, found in (pods or {}).items()}
        self.patches: list[tuple[str, str, list[dict[str, Any]]]] = []

    def list_nodes(self) -> list[ClusterNode]:
        return list(self.nodes)

    def list_worker_pods(self, name: str, namespace: str) -> list[WorkerPod]:
        wanted = dict(part.split("=", 1) for part in worker_selector(name).split(","))
        return [p for p in self.pods.get(namespace, []) if all(p.labels.get(k) == v for k, v in wanted.items())]

    def get_raycluster(self, name: str, namespace: str) -> dict[str, Any]:
        try:
            return copy.deepcopy(self.rayclusters[(namespace, name)])
        except KeyError:
            raise NotFound(f"raycluster {namespace}/{name} not found") from None

    def patch_raycluster(self, name: str, namespace: str, patch: list[dict[str, Any]]) -> dict[str, Any]:
        current = self.get_raycluster(name, namespace)
        patched = apply_json_patch(current, patch, f"raycluster {namespace}/{name}")
        self.rayclusters[(namespace, name)] = patched
        self.patches.append((namespace, name, copy.deepcopy(patch)))
        return copy.deepcopy(patched)


def worker_pod(raycluster: str, group: str, name: str, ip: str | None = None, phase: str = "Running", **labels: str) -> WorkerPod:
    """A worker pod labelled as KubeRay labels the pods it makes for `raycluster`'s `group`."""
    kuberay = {CLUSTER_LABEL: raycluster, GROUP_LABEL: group, NODE_TYPE_LABEL: "worker"}
    return WorkerPod(name=name, group=group, ip=ip, labels={**kuberay, **labels}, phase=phase)


def apply_json_patch(doc: dict[str, Any], patch: list[dict[str, Any]], what: str = "object") -> dict[str, Any]:
    """The RFC 6902 subset the farm sends: `test`, `replace`, and `add` of an object key.

    All or nothing, as the API server applies it: a failed `test` raises
    Conflict and leaves `doc` as it was.
    """
    out = copy.deepcopy(doc)
    for op in patch:
        *parents, last = [_unescape(p) for p in op["path"].lstrip("/").split("/")]
        target: Any = out
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        key: Any = int(last) if isinstance(target, list) else last
        present = key < len(target) if isinstance(target, list) else key in target
        if op["op"] == "test":
            if not present or target[key] != op["value"]:
                raise Conflict(f"{what} changed since it was read: {op['path']}")
        elif op["op"] == "replace" and present or op["op"] == "add" and isinstance(target, dict):
            target[key] = op["value"]
        else:
            raise ValueError(f"unsupported JSON patch op {op['op']!r} at {op['path']}")
    return out


def _unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")
