"""Discovery: node labels to GPU classes, counts and prices. Pure."""

from __future__ import annotations

import pytest

from orchestrator.cluster.adapter import ClusterNode
from orchestrator.cluster.discovery import ClassTable, discover
from orchestrator.config.cost import PriceBook
from tests.orchestrator.cluster.clusters import cpu_node, gpu_node

PRICES = PriceBook(usd_per_hour={"cpu": 0.05, "a10g": 1.0, "l40s": 2.0, "h100": 4.0})


@pytest.mark.parametrize(
    "labels, expected",
    [
        ({"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}, "h100"),
        ({"nvidia.com/gpu.product": "NVIDIA-H100-PCIe"}, "h100"),
        ({"nvidia.com/gpu.product": "nvidia-l40s"}, "l40s"),
        ({"nvidia.com/gpu.product": "NVIDIA-A10G"}, "a10g"),
        ({"node.kubernetes.io/instance-type": "p5.48xlarge"}, "h100"),
        ({"node.kubernetes.io/instance-type": "g6e.12xlarge"}, "l40s"),
        ({"node.kubernetes.io/instance-type": "g5.xlarge"}, "a10g"),
        ({"node.kubernetes.io/instance-type": "a3-highgpu-8g"}, "h100"),
        # The GPU product label is what the device plugin saw; it wins over the instance type.
        ({"nvidia.com/gpu.product": "NVIDIA-L40S", "node.kubernetes.io/instance-type": "p5.48xlarge"}, "l40s"),
        ({"nvidia.com/gpu.product": "Tesla-T4"}, None),
        ({"node.kubernetes.io/instance-type": "m6i.large"}, None),
        ({}, None),
    ],
)
def test_a_nodes_class_comes_from_its_gpu_product_else_its_instance_type(labels, expected):
    assert ClassTable().class_of(labels) == expected


def test_the_longest_matching_prefix_wins_so_a_studio_can_add_a_specific_entry():
    table = ClassTable(products={"NVIDIA-H100": "h100", "NVIDIA-H100-NVL": "h100nvl"})
    assert table.class_of({"nvidia.com/gpu.product": "NVIDIA-H100-NVL"}) == "h100nvl"
    assert table.class_of({"nvidia.com/gpu.product": "NVIDIA-H100-SXM"}) == "h100"


def test_gpu_nodes_are_grouped_by_class_with_node_and_gpu_counts_and_prices():
    nodes = [
        gpu_node("h-1", "NVIDIA-H100-80GB-HBM3", gpus=8),
        gpu_node("h-2", "NVIDIA-H100-80GB-HBM3", gpus=8),
        gpu_node("l-1", "NVIDIA-L40S", gpus=4),
        ClusterNode("g-1", {"node.kubernetes.io/instance-type": "g5.xlarge"}, gpus=1),
        cpu_node("cpu-1"),
    ]
    inventory = discover(nodes, PRICES)
    assert sorted(inventory.classes) == ["a10g", "h100", "l40s"]
    h100 = inventory.classes["h100"]
    assert (h100.nodes, h100.gpus, h100.usd_per_hour) == (2, 16, 4.0)
    assert inventory.gpus() == {"a10g": 1, "h100": 16, "l40s": 4}
    assert inventory.unrecognised == () and inventory.unpriced == ()


def test_nodes_without_allocatable_gpus_are_not_render_capacity():
    # A labelled node whose device plugin is not up yet offers nothing.
    inventory = discover([gpu_node("h-1", "NVIDIA-H100-80GB-HBM3", gpus=0), cpu_node("c")], PRICES)
    assert inventory.classes == {}


def test_unknown_gpus_and_unpriced_classes_are_reported_not_guessed():
    nodes = [gpu_node("t4-1", "Tesla-T4"), gpu_node("h200-1", "NVIDIA-H200", gpus=8), gpu_node("l-1", "NVIDIA-L40S")]
    inventory = discover(nodes, PRICES)
    assert inventory.unrecognised == ("t4-1",)
    assert inventory.unpriced == ("h200",)
    assert list(inventory.classes) == ["l40s"]
