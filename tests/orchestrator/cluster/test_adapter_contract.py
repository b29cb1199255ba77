"""The ClusterAPI contract, asserted alike on FakeClusterAPI and on KubeClusterAPI over HTTP.

KubeClusterAPI talks to a small fake API server through the official
client, so the request shapes the real client sends are what is checked.
"""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from orchestrator.cluster.adapter import ClusterNode, Conflict, FakeClusterAPI, KubeClusterAPI, NotFound, WorkerPod, worker_pod
from orchestrator.cluster.operator import reconcile
from orchestrator.cluster.scaling import Placement, RayNode
from orchestrator.config.cost import PriceBook
from tests.orchestrator.cluster.clusters import cpu_node, gpu_node, group, raycluster
from tests.orchestrator.cluster.fake_apiserver import FakeApiServer, node_json, pod_json

NODES = [
    gpu_node("h100-a", "NVIDIA-H100-80GB-HBM3", gpus=8),
    gpu_node("h100-b", "NVIDIA-H100-80GB-HBM3", gpus=8),
    gpu_node("l40s-a", "NVIDIA-L40S", gpus=4),
    cpu_node("system-a"),
    cpu_node("system-b"),
]
PRICES = PriceBook(usd_per_hour={"cpu": 0.05, "a10g": 1.0, "l40s": 2.0, "h100": 4.0})


class Kube:
    """KubeClusterAPI against the fake server, with a page size that forces paging."""

    def __init__(self, server: FakeApiServer):
        self.server = server
        config = k8s.Configuration()
        config.host = server.url
        self.api = KubeClusterAPI(k8s.ApiClient(config), page_size=2)

    def seed(self, nodes: list[ClusterNode], clusters: list[dict], pods: list[WorkerPod] = ()) -> None:
        self.server.nodes = [node_json(n.name, dict(n.labels), n.gpus) for n in nodes]
        for rc in clusters:
            self.server.rayclusters[(rc["metadata"]["namespace"], rc["metadata"]["name"])] = rc
        self.server.pods = {"shotfarm": [pod_json(p.name, dict(p.labels), p.ip, p.phase, p.deleting) for p in pods]}


class Fake:
    def __init__(self) -> None:
        self.api = FakeClusterAPI()

    def seed(self, nodes: list[ClusterNode], clusters: list[dict], pods: list[WorkerPod] = ()) -> None:
        self.api.nodes = list(nodes)
        for rc in clusters:
            self.api.rayclusters[(rc["metadata"]["namespace"], rc["metadata"]["name"])] = rc
        self.api.pods = {"shotfarm": list(pods)}


@pytest.fixture(params=["fake", "kube"])
def backend(request):
    if request.param == "fake":
        yield Fake()
        return
    with FakeApiServer() as server:
        yield Kube(server)


def test_nodes_come_back_with_their_labels_and_allocatable_gpus(backend):
    backend.seed(NODES, [])
    nodes = backend.api.list_nodes()
    assert sorted(nodes, key=lambda n: n.name) == sorted(NODES, key=lambda n: n.name)


def test_a_raycluster_is_read_whole(backend):
    backend.seed([], [raycluster()])
    rc = backend.api.get_raycluster("shotfarm", "shotfarm")
    names = [g["groupName"] for g in rc["spec"]["workerGroupSpecs"]]
    assert names == ["gpu-h100", "gpu-l40s", "gpu-a10g", "cpu-helpers"]


def test_a_missing_raycluster_is_not_found(backend):
    backend.seed([], [raycluster()])
    with pytest.raises(NotFound, match="elsewhere/shotfarm"):
        backend.api.get_raycluster("shotfarm", "elsewhere")


def test_a_json_patch_is_applied_and_the_patched_object_returned(backend):
    backend.seed([], [raycluster()])
    patch = [
        {"op": "test", "path": "/spec/workerGroupSpecs/0/groupName", "value": "gpu-h100"},
        {"op": "add", "path": "/spec/workerGroupSpecs/0/replicas", "value": 5},
    ]
    returned = backend.api.patch_raycluster("shotfarm", "shotfarm", patch)
    assert returned["spec"]["workerGroupSpecs"][0]["replicas"] == 5
    assert backend.api.get_raycluster("shotfarm", "shotfarm")["spec"]["workerGroupSpecs"][0]["replicas"] == 5


def test_a_patch_whose_test_fails_is_a_conflict_and_changes_nothing(backend):
    backend.seed([], [raycluster()])
    patch = [
        {"op": "test", "path": "/spec/workerGroupSpecs/0/groupName", "value": "gpu-a10g"},
        {"op": "add", "path": "/spec/workerGroupSpecs/0/replicas", "value": 5},
    ]
    with pytest.raises(Conflict):
        backend.api.patch_raycluster("shotfarm", "shotfarm", patch)
    assert backend.api.get_raycluster("shotfarm", "shotfarm")["spec"]["workerGroupSpecs"][0]["replicas"] == 0


def test_a_reconcile_pass_scales_the_groups_that_have_demand(backend):
    backend.seed(NODES, [raycluster()])
    done = reconcile(backend.api, {"h100": 3, "l40s": 2}, PRICES, budget=None)
    rc = backend.api.get_raycluster("shotfarm", "shotfarm")
    assert {g["groupName"]: g["replicas"] for g in rc["spec"]["workerGroupSpecs"]} == {
        "gpu-h100": 3, "gpu-l40s": 2, "gpu-a10g": 0, "cpu-helpers": 2,
    }  # fmt: skip
    assert done.inventory.gpus() == {"h100": 16, "l40s": 4}


PODS = [
    worker_pod("shotfarm", "gpu-h100", "shotfarm-gpu-h100-a", ip="10.1.0.1"),
    worker_pod("shotfarm", "gpu-h100", "shotfarm-gpu-h100-b", ip="10.1.0.2"),
    worker_pod("shotfarm", "gpu-h100", "shotfarm-gpu-h100-c", ip="10.1.0.3"),
    worker_pod("shotfarm", "gpu-h100", "shotfarm-gpu-h100-d", phase="Pending"),
    WorkerPod(**{**vars(worker_pod("shotfarm", "gpu-h100", "shotfarm-gpu-h100-e", ip="10.1.0.5")), "deleting": True}),
    worker_pod("other", "gpu-h100", "other-gpu-h100-a", ip="10.2.0.1"),  # another RayCluster's
    WorkerPod("shotfarm-head-x", "", "10.1.0.9", {"ray.io/cluster": "shotfarm", "ray.io/node-type": "head"}, "Running"),
]


def test_a_rayclusters_worker_pods_come_back_with_group_ip_phase_and_labels(backend):
    backend.seed([], [], PODS)
    found = sorted(backend.api.list_worker_pods("shotfarm", "shotfarm"), key=lambda p: p.name)
    assert found == sorted(PODS[:5], key=lambda p: p.name)
    assert backend.api.list_worker_pods("shotfarm", "elsewhere") == []


def test_a_pass_that_lowers_a_group_names_only_idle_pods_and_keeps_the_busy_ones(backend):
    backend.seed(NODES, [raycluster(group("gpu-h100", "h100", replicas=4))], PODS)
    ray_nodes = tuple(RayNode(f"ray-{p.name[-1]}", p.ip) for p in PODS[:3])
    busy = Placement(ray_nodes, frozenset({"ray-b"}))
    done = reconcile(backend.api, {}, PRICES, placement=lambda: busy)
    (h100,) = backend.api.get_raycluster("shotfarm", "shotfarm")["spec"]["workerGroupSpecs"]
    assert h100["replicas"] == 1
    assert h100["scaleStrategy"] == {"workersToDelete": ["shotfarm-gpu-h100-d", "shotfarm-gpu-h100-a", "shotfarm-gpu-h100-c"]}
    assert done.down is not None and done.down.replicas["gpu-h100"] == 1


def test_a_pass_that_raises_no_group_reads_neither_pods_nor_placement(kube):
    kube.seed(NODES, [raycluster(group("gpu-h100", "h100", replicas=1))], PODS)

    def placement() -> Placement:
        raise AssertionError("read the placement without lowering a group")

    reconcile(kube.api, {"h100": 3}, PRICES, placement=placement)
    assert not [r for r in kube.server.requests if r["path"].endswith("/pods")]


# -- what the real client puts on the wire --------------------------------------


@pytest.fixture
def kube():
    with FakeApiServer() as server:
        yield Kube(server)


def test_the_node_list_is_paged_with_limit_and_continue(kube):
    kube.seed(NODES, [])
    assert len(kube.api.list_nodes()) == 5
    pages = [r for r in kube.server.requests if r["path"] == "/api/v1/nodes"]
    assert [r["query"].get("limit") for r in pages] == [["2"]] * 3
    assert [r["query"].get("continue") for r in pages] == [None, ["2"], ["4"]]


def test_the_patch_is_sent_as_a_json_patch_to_the_rayclusters_path(kube):
    kube.seed(NODES, [raycluster()])
    reconcile(kube.api, {"h100": 1}, PRICES)
    (patch,) = [r for r in kube.server.requests if r["method"] == "PATCH"]
    assert patch["path"] == "/apis/ray.io/v1/namespaces/shotfarm/rayclusters/shotfarm"
    assert patch["content_type"] == "application/json-patch+json"
    assert patch["body"] == [
        {"op": "test", "path": "/spec/workerGroupSpecs/0/groupName", "value": "gpu-h100"},
        {"op": "add", "path": "/spec/workerGroupSpecs/0/replicas", "value": 1},
    ]


def test_a_pass_with_nothing_to_change_sends_no_patch(kube):
    kube.seed(NODES, [raycluster()])
    reconcile(kube.api, {}, PRICES)
    assert [r["method"] for r in kube.server.requests if r["method"] != "GET"] == []


def test_worker_pods_are_listed_by_kuberays_labels_and_paged(kube):
    kube.seed([], [], PODS)
    assert len(kube.api.list_worker_pods("shotfarm", "shotfarm")) == 5
    pages = [r for r in kube.server.requests if r["path"] == "/api/v1/namespaces/shotfarm/pods"]
    assert [r["query"]["labelSelector"] for r in pages] == [["ray.io/cluster=shotfarm,ray.io/node-type=worker"]] * 3
    assert [r["query"].get("continue") for r in pages] == [None, ["2"], ["4"]]
