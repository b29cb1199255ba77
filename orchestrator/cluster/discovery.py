"""Which GPU classes a Kubernetes cluster offers, how many, and at what price.

Pure: node records in, an inventory out. A node's class comes from the
NVIDIA GPU feature discovery label `nvidia.com/gpu.product` when present,
else from the cloud instance type `node.kubernetes.io/instance-type`,
through a mapping table a studio can extend. Prices come from the
PriceBook, so a class the book does not price is reported, never guessed.

It must never call the API itself: the operator passes what the adapter read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from orchestrator.cluster.adapter import ClusterNode
from orchestrator.config.cost import PriceBook

PRODUCT_LABEL = "nvidia.com/gpu.product"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"

# Prefixes, matched case-insensitively; the longest match wins, so a studio can
# add a more specific entry (say "NVIDIA-H100-NVL") without reordering.
DEFAULT_PRODUCTS: Mapping[str, str] = {
    "NVIDIA-H100": "h100",
    "NVIDIA-H200": "h200",
    "NVIDIA-L40S": "l40s",
    "NVIDIA-A10G": "a10g",
}
DEFAULT_INSTANCE_TYPES: Mapping[str, str] = {
    "p5.": "h100",  # AWS, 8x H100
    "p5e.": "h200",
    "g6e.": "l40s",
    "g5.": "a10g",
    "a3-highgpu-": "h100",  # GCP
    "a3-megagpu-": "h100",
    "Standard_NC40ads_H100": "h100",  # Azure
}


@dataclass(frozen=True)
class ClassTable:
    products: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PRODUCTS))
    instance_types: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_INSTANCE_TYPES))

    def class_of(self, labels: Mapping[str, str]) -> str | None:
        product = labels.get(PRODUCT_LABEL)
        if product:
            return _longest_prefix(self.products, product)
        instance = labels.get(INSTANCE_TYPE_LABEL)
        return _longest_prefix(self.instance_types, instance) if instance else None


@dataclass(frozen=True)
class GpuClass:
    name: str
    nodes: int
    gpus: int
    usd_per_hour: float
    """Price of one GPU of this class for an hour."""


@dataclass(frozen=True)
class Inventory:
    classes: Mapping[str, GpuClass]
    unrecognised: tuple[str, ...] = ()
    """Nodes with GPUs that no table entry matches."""
    unpriced: tuple[str, ...] = ()
    """Classes found on nodes that the price book has no rate for; they are left out of `classes`."""

    def gpus(self) -> dict[str, int]:
        return {name: c.gpus for name, c in self.classes.items()}


def discover(nodes: Iterable[ClusterNode], prices: PriceBook, table: ClassTable | None = None) -> Inventory:
    """GPU nodes grouped by class. Nodes without allocatable GPUs (the Ray head's, system pools) are skipped."""
    table = table or ClassTable()
    found: dict[str, list[ClusterNode]] = {}
    unrecognised = []
    for node in nodes:
        if node.gpus <= 0:
            continue
        name = table.class_of(node.labels)
        if name is None:
            unrecognised.append(node.name)
        else:
            found.setdefault(name, []).append(node)
    classes, unpriced = {}, []
    for name, members in sorted(found.items()):
        if name not in prices.usd_per_hour:
            unpriced.append(name)
            continue
        classes[name] = GpuClass(name, len(members), sum(n.gpus for n in members), prices.rate(name))
    return Inventory(classes, tuple(sorted(unrecognised)), tuple(unpriced))


def _longest_prefix(table: Mapping[str, str], value: str) -> str | None:
    matches = [prefix for prefix in table if value.lower().startswith(prefix.lower())]
    return table[max(matches, key=len)] if matches else None
