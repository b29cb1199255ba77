"""k8s/overlays/ha: the event log on an external PostgreSQL, two orchestrators under the lease, a PodDisruptionBudget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.support import K8S_VERSION, crd_errors, is_custom, one, orchestrator, parse_serve, pod_specs, render, security_problems
from tests.deploy.test_manifests import secret_refs


@pytest.fixture(scope="module")
def ha() -> list[dict[str, Any]]:
    return render("ha")


def env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container["env"]}


def test_every_document_passes_strict_validation_and_runs_restricted(ha):
    for doc in ha:
        if is_custom(doc):
            assert crd_errors(doc) == []
        else:
            assert kubernetes_validate.validate(doc, K8S_VERSION, strict=True) == K8S_VERSION
    assert [p for d in ha if list(pod_specs(d)) for p in security_problems(d)] == []


def test_two_orchestrators_share_the_log_on_postgresql_from_a_secret(ha):
    deploy = one(ha, "Deployment", "shotfarm-orchestrator")
    assert deploy["spec"]["replicas"] == 2 and deploy["spec"]["strategy"]["type"] == "RollingUpdate"
    c = orchestrator(ha)
    args = parse_serve(c["args"])  # every flag as the real CLI parses it
    assert args.log == "$(SHOTFARM_LOG_URL)" and args.out == Path("/var/lib/shotfarm")
    # Kubernetes expands $(SHOTFARM_LOG_URL) from the env var declared before it, read from the Secret.
    variables = env(c)
    assert variables["SHOTFARM_LOG_URL"]["valueFrom"]["secretKeyRef"] == {"name": "shotfarm-postgres", "key": "url"}
    assert variables["SHOTFARM_ADVERTISE_URL"]["value"] == "http://$(POD_IP):8000"
    assert variables["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert ("shotfarm-postgres", "url") in secret_refs(ha) and not [d for d in ha if d["kind"] == "Secret"]


def test_no_volume_holds_the_log_any_more(ha):
    assert not [d for d in ha if d["kind"] == "PersistentVolumeClaim"]
    pod = one(ha, "Deployment", "shotfarm-orchestrator")["spec"]["template"]["spec"]
    assert {v["name"]: v for v in pod["volumes"]}["eventlog"] == {"name": "eventlog", "emptyDir": {"sizeLimit": "1Gi"}}


def test_a_standby_is_not_ready_so_the_service_sends_requests_to_the_leader(ha):
    # A standby answers /healthz with 503 (interfaces.standby): readiness fails, liveness must not kill it.
    c = orchestrator(ha)
    assert c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert "livenessProbe" not in c or c["livenessProbe"].get("tcpSocket") == {"port": "http"}


def test_a_disruption_budget_keeps_one_orchestrator(ha):
    pdb = one(ha, "PodDisruptionBudget", "shotfarm-orchestrator")
    labels = one(ha, "Deployment", "shotfarm-orchestrator")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_the_orchestrators_may_reach_postgresql(ha):
    policy = one(ha, "NetworkPolicy", "shotfarm-orchestrator-postgres")
    assert policy["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "shotfarm-orchestrator"}
    assert {"protocol": "TCP", "port": 5432} in [p for rule in policy["spec"]["egress"] for p in rule["ports"]]
