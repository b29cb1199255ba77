"""Scale-down never takes a busy GPU: idle pods are named, busy ones are counted. Pure."""

from __future__ import annotations

import pytest

from orchestrator.cluster.adapter import WorkerPod, apply_json_patch, worker_pod
from orchestrator.cluster.scaling import POD_LABEL, Placement, RayNode, busy_pods, replicas_patch, scale_down, worker_groups
from tests.orchestrator.cluster.clusters import group, raycluster

RC = raycluster(group("gpu-h100", "h100", replicas=4), group("gpu-l40s", "l40s", replicas=2, lo=1))
GROUPS = worker_groups(RC)


def pods(group_name: str, *names: str, phase: str = "Running") -> list[WorkerPod]:
    return [worker_pod("shotfarm", group_name, n, ip=f"10.0.0.{i}", phase=phase) for i, n in enumerate(names, 1)]


H100_PODS = pods("gpu-h100", "h100-a", "h100-b", "h100-c", "h100-d")


@pytest.mark.parametrize(
    "planned, busy, kept, named",
    [
        (0, set(), 0, ("h100-a", "h100-b", "h100-c", "h100-d")),
        (0, {"h100-b"}, 1, ("h100-a", "h100-c", "h100-d")),
        (2, {"h100-b"}, 2, ("h100-a", "h100-c")),
        (1, {"h100-a", "h100-c", "h100-d"}, 3, ("h100-b",)),
        (0, {"h100-a", "h100-b", "h100-c", "h100-d"}, 4, ()),
        (3, set(), 3, ("h100-a",)),
    ],
)
def test_a_lowered_group_keeps_its_busy_pods_and_names_exactly_the_idle_ones_that_go(planned, busy, kept, named):
    down = scale_down(GROUPS, {"gpu-h100": planned, "gpu-l40s": 2}, H100_PODS, busy)
    assert down.replicas["gpu-h100"] == kept
    assert down.workers_to_delete.get("gpu-h100", ()) == named
    assert not set(named) & busy
    assert len(H100_PODS) - len(named) == kept, "KubeRay is left nothing to delete at random"


def test_pods_not_running_yet_go_before_idle_running_ones():
    group_pods = pods("gpu-h100", "h100-a", "h100-b") + pods("gpu-h100", "h100-z", phase="Pending")
    (rc_group,) = worker_groups(raycluster(group("gpu-h100", "h100", replicas=3)))
    down = scale_down([rc_group], {"gpu-h100": 2}, group_pods, set())
    assert down.workers_to_delete == {"gpu-h100": ("h100-z",)}


def test_pods_already_being_deleted_are_neither_counted_nor_named_again():
    leaving = WorkerPod(**{**vars(H100_PODS[0]), "deleting": True})
    down = scale_down(GROUPS, {"gpu-h100": 1, "gpu-l40s": 2}, [leaving, *H100_PODS[1:]], {"h100-b"})
    assert down.replicas["gpu-h100"] == 1
    assert down.workers_to_delete == {"gpu-h100": ("h100-c", "h100-d")}


def test_groups_that_grow_or_stay_name_nothing_and_keep_the_plan():
    down = scale_down(GROUPS, {"gpu-h100": 6, "gpu-l40s": 2}, H100_PODS, {"h100-a"})
    assert down.replicas == {"gpu-h100": 6, "gpu-l40s": 2}
    assert down.workers_to_delete == {}


def test_another_groups_pods_are_never_named():
    l40s = pods("gpu-l40s", "l40s-a", "l40s-b")
    down = scale_down(GROUPS, {"gpu-h100": 4, "gpu-l40s": 1}, H100_PODS + l40s, set())
    assert down.workers_to_delete == {"gpu-l40s": ("l40s-a",)}


RAY = (
    RayNode("n-a", "10.0.0.1"),
    RayNode("n-b", "10.0.0.2"),
    RayNode("n-c", "127.0.0.1", {POD_LABEL: "h100-c"}),
    RayNode("n-d", "127.0.0.1", {POD_LABEL: "h100-d"}),
)


@pytest.mark.parametrize(
    "holding, busy",
    [
        (set(), set()),
        ({"n-b"}, {"h100-b"}),  # by the pod IP
        ({"n-c"}, {"h100-c"}),  # by the pod label, whatever the address
        ({"n-a", "n-d"}, {"h100-a", "h100-d"}),
        ({"n-gone"}, set()),  # a Ray node no pod has
    ],
)
def test_a_pod_is_busy_when_its_ray_node_holds_a_chunk(holding, busy):
    assert busy_pods(H100_PODS, Placement(RAY, frozenset(holding))) == busy


def test_a_pod_without_an_ip_is_matched_by_its_label_only():
    pending = [worker_pod("shotfarm", "gpu-h100", "h100-c"), worker_pod("shotfarm", "gpu-h100", "h100-x")]
    assert busy_pods(pending, Placement(RAY, frozenset({"n-c", "n-a"}))) == {"h100-c"}


def test_the_patch_names_the_pods_beside_the_lowered_replicas_under_the_groups_name_test():
    down = scale_down(GROUPS, {"gpu-h100": 0, "gpu-l40s": 2}, H100_PODS, {"h100-b"})
    patch = replicas_patch(GROUPS, down.replicas, down.workers_to_delete)
    assert patch == [
        {"op": "test", "path": "/spec/workerGroupSpecs/0/groupName", "value": "gpu-h100"},
        {"op": "add", "path": "/spec/workerGroupSpecs/0/replicas", "value": 1},
        {"op": "add", "path": "/spec/workerGroupSpecs/0/scaleStrategy", "value": {"workersToDelete": ["h100-a", "h100-c", "h100-d"]}},
    ]
    applied = apply_json_patch(RC, patch)["spec"]["workerGroupSpecs"][0]
    assert applied["replicas"] == 1 and applied["scaleStrategy"]["workersToDelete"] == ["h100-a", "h100-c", "h100-d"]


def test_the_patched_raycluster_is_valid_against_the_pinned_kuberay_schema():
    from tests.deploy.support import crd_errors

    down = scale_down(GROUPS, {"gpu-h100": 0, "gpu-l40s": 1}, H100_PODS + pods("gpu-l40s", "l40s-a", "l40s-b"), {"h100-b"})
    assert crd_errors(apply_json_patch(RC, replicas_patch(GROUPS, down.replicas, down.workers_to_delete))) == []
