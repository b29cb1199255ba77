"""Whether rendered NetworkPolicies let one endpoint reach another on a port.

networking.k8s.io/v1 semantics for the subset the farm writes: selectors by
matchLabels (matchExpressions raise), ipBlock with `except` for addresses
outside the cluster, ports by number, by range (endPort) or absent (every
port of the protocol). A pod no policy selects for a direction is open in
that direction; a selected pod is closed but for what one of its policies
allows. A connection needs both the source's egress and the target's ingress.

Not modelled: named ports, ipBlock matching pod IPs (the API leaves that to
the CNI), and whether the CNI enforces anything at all.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.deploy.support import pod_specs


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    namespace_labels: Mapping[str, str] | None = None
    """The namespace's labels; None: only kubernetes.io/metadata.name, which every namespace has."""

    def ns_labels(self) -> Mapping[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace, **(self.namespace_labels or {})}


@dataclass(frozen=True)
class Address:
    """An address outside the cluster's pod network: the API server, the internet."""

    ip: str


Endpoint = Pod | Address


def allowed(policies: list[dict[str, Any]], src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP") -> bool:
    """Whether src may open a connection to dst:port."""
    out = _open(policies, src, "Egress", dst, port, protocol) if isinstance(src, Pod) else True
    into = _open(policies, dst, "Ingress", src, port, protocol) if isinstance(dst, Pod) else True
    return out and into


def _open(policies: list[dict[str, Any]], pod: Pod, direction: str, peer: Endpoint, port: int, protocol: str) -> bool:
    selecting = [p for p in policies if _selects(p, pod) and direction in _types(p)]
    if not selecting:
        return True
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    return any(
        _peer_matches(rule.get(peers_key), p, peer) and _port_matches(rule.get("ports"), port, protocol)
        for p in selecting
        for rule in p["spec"].get(key) or []
    )


def _types(policy: dict[str, Any]) -> list[str]:
    spec = policy["spec"]
    if "policyTypes" in spec:
        return spec["policyTypes"]
    return ["Ingress"] + (["Egress"] if "egress" in spec else [])


def _selects(policy: dict[str, Any], pod: Pod) -> bool:
    return policy["metadata"]["namespace"] == pod.namespace and _match(policy["spec"]["podSelector"], pod.labels)


def _match(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    if selector.get("matchExpressions"):
        raise ValueError(f"matchExpressions are not modelled: {selector}")
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _peer_matches(peers: list[dict[str, Any]] | None, policy: dict[str, Any], peer: Endpoint) -> bool:
    if not peers:
        return True  # no `from`/`to`: every peer
    return any(_one_peer(p, policy["metadata"]["namespace"], peer) for p in peers)


def _one_peer(rule: dict[str, Any], namespace: str, peer: Endpoint) -> bool:
    if "ipBlock" in rule:
        if not isinstance(peer, Address):
            return False
        ip = ipaddress.ip_address(peer.ip)
        block = rule["ipBlock"]
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(c) for c in block.get("except", [])
        )
    if not isinstance(peer, Pod):
        return False
    if "namespaceSelector" in rule:
        in_namespace = _match(rule["namespaceSelector"], peer.ns_labels())
    else:
        in_namespace = peer.namespace == namespace
    return in_namespace and _match(rule.get("podSelector", {}), peer.labels)


def _port_matches(ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True  # no `ports`: every port and protocol
    for p in ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        number = p.get("port")
        if number is None:
            return True
        if isinstance(number, str):
            raise ValueError(f"named ports are not modelled: {p}")
        if number <= port <= p.get("endPort", number):
            return True
    return False


# -- the farm's pods, as KubeRay and the controllers label them --------------------


def farm_pods(docs: list[dict[str, Any]]) -> dict[str, Pod]:
    """Every pod the manifests make, by a short name: the Deployment's and StatefulSet's by
    their name, a RayCluster's as `ray-head` and `ray-<group>`, with the labels KubeRay adds."""
    pods = {}
    for doc in docs:
        namespace = doc["metadata"].get("namespace", "")
        spec = doc.get("spec", {})
        if doc["kind"] in ("Deployment", "StatefulSet"):
            pods[doc["metadata"]["name"]] = Pod(namespace, spec["template"]["metadata"]["labels"])
        elif doc["kind"] == "RayCluster":
            cluster = {"ray.io/cluster": doc["metadata"]["name"]}
            head = spec["headGroupSpec"]["template"].get("metadata", {}).get("labels", {})
            pods["ray-head"] = Pod(namespace, {**head, **cluster, "ray.io/node-type": "head"})
            for group in spec.get("workerGroupSpecs", []):
                labels = group["template"].get("metadata", {}).get("labels", {})
                kuberay = {**cluster, "ray.io/node-type": "worker", "ray.io/group": group["groupName"]}
                pods[f"ray-{group['groupName']}"] = Pod(namespace, {**labels, **kuberay})
    assert len(pods) == sum(len(list(pod_specs(d))) for d in docs), "a pod template without a name here"
    return pods
