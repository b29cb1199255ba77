"""Who may reach whom under each overlay's NetworkPolicies (evaluated by tests/deploy/netpol.py).

The orchestrator pod is a Ray node: it and every Ray pod must reach each
other on any TCP port (GCS, client, dashboard, agents, and the raylet,
object manager and worker ports Ray picks at random), both ways. Past that,
each flow the farm needs is open and its neighbours stay shut.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.deploy.netpol import Address, Pod, allowed, farm_pods
from tests.deploy.support import one

RAY_PORTS = [6379, 10001, 8265, 8080, 52365, 10002, 19999, 40123, 61000]
"""GCS, client, dashboard, metrics, dashboard agent, the ends of the worker range, random ports."""
API_SERVER = Address("10.96.0.1")
INTERNET = Address("93.184.216.34")
DNS = Pod("kube-system", {"k8s-app": "kube-dns"})
PROMETHEUS = Pod("monitoring", {"app.kubernetes.io/name": "prometheus"})
CLIENT = Pod("studio", {"app": "pipeline"}, {"shotfarm.io/api-access": "true"})
STRANGER = Pod("studio", {"app": "pipeline"})
NEIGHBOUR = Pod("shotfarm", {"app": "debug"})


def policies(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == "NetworkPolicy"]


def ray_pods(docs: list[dict[str, Any]]) -> dict[str, Pod]:
    return {name: pod for name, pod in farm_pods(docs).items() if name.startswith("ray-")}


def test_the_orchestrator_and_every_ray_pod_reach_each_other_on_any_tcp_port(rendered):
    rules, pods, ray = policies(rendered), farm_pods(rendered), ray_pods(rendered)
    orchestrator = pods["shotfarm-orchestrator"]
    assert "ray-head" in ray and len(ray) >= 2
    shut = [
        f"{src} -> {dst}:{port}"
        for name in ray
        for src, dst in [("shotfarm-orchestrator", name), (name, "shotfarm-orchestrator")]
        for port in RAY_PORTS
        if not allowed(rules, pods[src], pods[dst], port)
    ]
    assert shut == []
    # Its raylet and the coordinator's worker reach each other by the pod's IP.
    assert all(allowed(rules, orchestrator, orchestrator, port) for port in RAY_PORTS)


def test_ray_pods_reach_each_other_on_any_tcp_port(rendered):
    rules, ray = policies(rendered), list(ray_pods(rendered).values())
    assert all(allowed(rules, a, b, port) for a in ray for b in ray for port in RAY_PORTS)


def test_the_farm_reaches_minio_the_kubernetes_api_and_dns_and_nothing_else_outside(rendered):
    rules, pods = policies(rendered), farm_pods(rendered)
    orchestrator, minio = pods["shotfarm-orchestrator"], pods["shotfarm-minio"]
    for pod in [orchestrator, *ray_pods(rendered).values()]:
        assert allowed(rules, pod, minio, 9000)
        assert not allowed(rules, pod, minio, 9001)  # the console
        assert allowed(rules, pod, DNS, 53, "UDP") and allowed(rules, pod, DNS, 53, "TCP")
        assert not allowed(rules, pod, INTERNET, 80)
    assert allowed(rules, orchestrator, API_SERVER, 443) and allowed(rules, orchestrator, API_SERVER, 6443)
    assert not any(allowed(rules, pod, API_SERVER, 443) for pod in ray_pods(rendered).values())
    assert not allowed(rules, minio, INTERNET, 443) and not allowed(rules, minio, orchestrator, 8000)


def test_only_api_clients_reach_the_api_and_only_prometheus_the_metrics(rendered):
    rules, pods = policies(rendered), farm_pods(rendered)
    orchestrator, head = pods["shotfarm-orchestrator"], pods["ray-head"]
    assert allowed(rules, CLIENT, orchestrator, 8000)
    assert not allowed(rules, CLIENT, orchestrator, 9400) and not allowed(rules, CLIENT, head, 10001)
    for outsider in (STRANGER, NEIGHBOUR):
        assert not any(allowed(rules, outsider, orchestrator, port) for port in (8000, 9400, 6379))
        assert not any(allowed(rules, outsider, head, port) for port in (6379, 8265, 10001))
    assert allowed(rules, PROMETHEUS, orchestrator, 9400) and not allowed(rules, PROMETHEUS, orchestrator, 8000)
    assert all(allowed(rules, PROMETHEUS, pod, 8080) for pod in ray_pods(rendered).values())
    assert not allowed(rules, PROMETHEUS, head, 8265)


@pytest.mark.parametrize(
    "policy, direction, index, src, dst",
    [
        ("orchestrator", "ingress", 2, "ray-head", "shotfarm-orchestrator"),
        ("orchestrator", "egress", 0, "shotfarm-orchestrator", "ray-head"),
        ("ray", "ingress", 0, "shotfarm-orchestrator", "ray-head"),
        ("ray", "egress", 0, "ray-head", "shotfarm-orchestrator"),
    ],
)
def test_losing_a_ray_peer_rule_cuts_the_orchestrator_off(dev, policy, direction, index, src, dst):
    docs = copy.deepcopy(dev)
    pods = farm_pods(docs)
    assert allowed(policies(docs), pods[src], pods[dst], 40123)
    del one(docs, "NetworkPolicy", policy)["spec"][direction][index]
    assert not allowed(policies(docs), pods[src], pods[dst], 40123)


def test_the_evaluator_reads_ranges_exceptions_and_open_rules():
    def policy(spec: dict[str, Any]) -> dict[str, Any]:
        return {"kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "n"}, "spec": spec}

    pod, other = Pod("n", {"app": "a"}), Pod("n", {"app": "b"})
    ranged = policy({"podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"],
                     "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                                 "ports": [{"port": 1000, "endPort": 2000}]}]})  # fmt: skip
    assert allowed([ranged], pod, Address("10.2.3.4"), 1500)
    assert not allowed([ranged], pod, Address("10.1.3.4"), 1500)
    assert not allowed([ranged], pod, Address("10.2.3.4"), 2001)
    assert not allowed([ranged], pod, Address("10.2.3.4"), 1500, "UDP")
    assert not allowed([ranged], pod, other, 1500)  # ipBlock never matches a pod here
    assert allowed([ranged], other, pod, 1500)  # nothing selects `other`, nothing isolates `pod` for ingress
    deny = policy({"podSelector": {}, "policyTypes": ["Ingress"]})
    assert not allowed([ranged, deny], other, pod, 1)
    open_ingress = policy({"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]})
    assert allowed([deny, open_ingress], other, pod, 1)
