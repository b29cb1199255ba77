"""The k8s/ overlays render, validate, and hold the farm's security and wiring rules.

Built-in kinds: kubernetes-validate (strict) for Kubernetes K8S_VERSION.
Custom resources: the pinned CRD schemas (shared/data/crds), strict.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from nodes.storage import S3Settings
from orchestrator.cluster.discovery import ClassTable
from orchestrator.cluster.scaling import worker_groups
from orchestrator.config.cost import PriceBook
from tests.deploy.support import (
    K8S_VERSION,
    REPO,
    containers,
    crd_errors,
    is_custom,
    one,
    orchestrator,
    parse_serve,
    pod_specs,
    security_problems,
    tool,
)

VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


# -- validity ---------------------------------------------------------------------


def test_the_overlays_render_every_kind_the_farm_needs(rendered):
    kinds = {d["kind"] for d in rendered}
    assert kinds == {
        "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ConfigMap",
        "Service", "PersistentVolumeClaim", "Deployment", "StatefulSet", "NetworkPolicy", "RayCluster",
        "ServiceMonitor", "PodMonitor", "PrometheusRule",
    }  # fmt: skip


def test_built_in_kinds_pass_strict_kubernetes_validation(rendered):
    built_in = [d for d in rendered if not is_custom(d)]
    for doc in built_in:
        assert kubernetes_validate.validate(doc, K8S_VERSION, strict=True) == K8S_VERSION


def test_custom_resources_match_their_pinned_crd_schemas(rendered):
    custom = [d for d in rendered if is_custom(d)]
    assert len(custom) == 4
    for doc in custom:
        assert crd_errors(doc) == [], doc["kind"]


@pytest.mark.parametrize(
    "kind, path, value, message",
    [
        ("RayCluster", ["spec", "workerGroupSpecs", 0, "maxReplicaz"], 4, "'maxReplicaz' was unexpected"),
        ("RayCluster", ["spec", "workerGroupSpecs", 0, "replicas"], "2", "'2' is not of type 'integer'"),
        ("ServiceMonitor", ["spec", "endpoints", 0, "interval"], "15 seconds", "does not match"),
        ("ServiceMonitor", ["spec", "endpoints", 0, "scheme"], "ftp", "is not one of"),
        ("PrometheusRule", ["spec", "groups", 0, "rules", 0, "for"], "five minutes", "does not match"),
    ],
)
def test_the_crd_check_catches_a_broken_custom_resource(dev, kind, path, value, message):
    doc = copy.deepcopy(one(dev, kind))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert any(message in e for e in crd_errors(doc)), crd_errors(doc)


def test_the_built_in_check_catches_a_broken_deployment(dev):
    doc = copy.deepcopy(one(dev, "Deployment"))
    doc["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


# -- security ---------------------------------------------------------------------


def test_every_workload_runs_restricted_with_requests_and_limits(rendered):
    workloads = [d for d in rendered if list(pod_specs(d))]
    assert {d["kind"] for d in workloads} == {"Deployment", "StatefulSet", "RayCluster"}
    assert [p for d in workloads for p in security_problems(d)] == []


def test_the_namespace_enforces_the_restricted_pod_security_standard(rendered):
    labels = one(rendered, "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


SPEC = ["spec", "template", "spec"]
HEAD = ["spec", "headGroupSpec", "template", "spec"]
REMOVALS = [
    ("Deployment", [[*SPEC, "containers", 0, "securityContext", "readOnlyRootFilesystem"]],
     "Deployment/shotfarm-orchestrator container orchestrator: readOnlyRootFilesystem is not true"),
    ("Deployment", [[*SPEC, "containers", 0, "securityContext", "allowPrivilegeEscalation"]],
     "Deployment/shotfarm-orchestrator container orchestrator: allowPrivilegeEscalation is not false"),
    ("StatefulSet", [[*SPEC, "containers", 0, "securityContext", "capabilities"]],
     "StatefulSet/shotfarm-minio container minio: capabilities do not drop ALL"),
    ("StatefulSet", [[*SPEC, "securityContext", "seccompProfile"]],
     "StatefulSet/shotfarm-minio container minio: seccompProfile is not RuntimeDefault"),
    # Set on the pod and on the container: only removing both loses it.
    ("RayCluster",
     [[*HEAD, "securityContext", "runAsNonRoot"], [*HEAD, "containers", 0, "securityContext", "runAsNonRoot"]],
     "RayCluster/shotfarm head container ray-head: runAsNonRoot is not true"),
    ("RayCluster", [["spec", "workerGroupSpecs", 1, "template", "spec", "containers", 0, "resources", "limits"]],
     "RayCluster/shotfarm group gpu-l40s container ray-worker: no cpu limit"),
]  # fmt: skip


@pytest.mark.parametrize("kind, paths, expected", REMOVALS, ids=[r[2].split(": ")[-1] for r in REMOVALS])
def test_removing_a_required_security_setting_is_caught(gpu, kind, paths, expected):
    doc = copy.deepcopy(one(gpu, kind))
    assert security_problems(doc) == []
    for path in paths:
        target = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    assert expected in security_problems(doc)


def secret_refs(node: Any) -> list[tuple[str, str]]:
    if isinstance(node, dict):
        here = [(node["secretKeyRef"]["name"], node["secretKeyRef"]["key"])] if "secretKeyRef" in node else []
        return here + [r for v in node.values() for r in secret_refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in secret_refs(v)]
    return []


def test_no_secret_is_shipped_and_every_credential_comes_from_a_secret_created_outside_git(rendered):
    assert not [d for d in rendered if d["kind"] == "Secret"]
    refs = secret_refs(rendered)
    assert set(refs) == {
        ("shotfarm-minio", "root-user"), ("shotfarm-minio", "root-password"), ("shotfarm-api-tokens", "tokens")
    }  # fmt: skip
    env = [e for _, c in containers(rendered) for e in c.get("env", [])]
    assert not [e["name"] for e in env if re.search("KEY|PASSWORD|USER|TOKEN", e["name"]) and "value" in e]


def test_rbac_is_least_privilege_for_the_orchestrator(rendered):
    cluster_role, role = one(rendered, "ClusterRole"), one(rendered, "Role")
    assert cluster_role["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]
    scaler = {"apiGroups": ["ray.io"], "resources": ["rayclusters"], "resourceNames": ["shotfarm"]}
    assert role["rules"] == [{**scaler, "verbs": ["get", "patch"]}, {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
    for binding in (one(rendered, "ClusterRoleBinding"), one(rendered, "RoleBinding")):
        subject = {"kind": "ServiceAccount", "name": "shotfarm-orchestrator", "namespace": "shotfarm"}
        assert binding["subjects"] == [subject]
    pods = {where: pod for d in rendered for where, pod in pod_specs(d)}
    tokens = [w for w, pod in pods.items() if pod.get("automountServiceAccountToken") is not False]
    assert tokens == ["Deployment/shotfarm-orchestrator"]


def test_every_namespaced_object_lands_in_the_shotfarm_namespace(rendered):
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    assert {d["metadata"].get("namespace") for d in rendered if d["kind"] not in cluster_scoped} == {"shotfarm"}


# -- wiring -----------------------------------------------------------------------


def test_the_orchestrator_is_one_recreated_replica_with_its_log_on_a_volume_and_healthz_probes(rendered):
    deploy = one(rendered, "Deployment", "shotfarm-orchestrator")
    assert deploy["spec"]["replicas"] == 1 and deploy["spec"]["strategy"]["type"] == "Recreate"
    pod = deploy["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": 8000, "metrics": 9400}
    for probe in (c["readinessProbe"], c["livenessProbe"]):
        assert probe["httpGet"] == {"path": "/healthz", "port": "http"}
    claim = {v["name"]: v for v in pod["volumes"]}["eventlog"]["persistentVolumeClaim"]["claimName"]
    assert one(rendered, "PersistentVolumeClaim", claim)["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert {"name": "eventlog", "mountPath": "/var/lib/shotfarm"} in c["volumeMounts"]
    assert parse_serve(c["args"]).out == Path("/var/lib/shotfarm")  # the log is shotfarm.db in it


def test_the_monitors_select_what_exports_metrics(rendered):
    service = one(rendered, "Service", "shotfarm-orchestrator")
    monitor = one(rendered, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert ports == {"http": 8000, "metrics": 9400}
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    pod_monitor = one(rendered, "PodMonitor")
    cluster = one(rendered, "RayCluster")["metadata"]["name"]
    assert pod_monitor["spec"]["selector"]["matchLabels"] == {"ray.io/cluster": cluster}
    ray = [c for where, c in containers([one(rendered, "RayCluster")])]
    assert all({"name": "metrics", "containerPort": 8080} in c["ports"] for c in ray)


def test_every_pod_that_stores_frames_is_configured_for_minio_through_its_service(rendered):
    port = one(rendered, "Service", "shotfarm-minio")["spec"]["ports"][0]["port"]
    url = parse_serve(orchestrator(rendered)["args"]).store  # Ray pods get it from the coordinator
    stores = 0
    for where, c in containers(rendered):
        env = {e["name"]: e.get("value", f"from-secret-{e['name']}") for e in c.get("env", [])}
        if "SHOTFARM_S3_ACCESS_KEY" in env:
            settings = S3Settings.from_url(url, env)
            assert (settings.endpoint, settings.secure) == (f"shotfarm-minio:{port}", False), where
            stores += 1
    assert stores >= 3  # the orchestrator, the Ray head, every worker group


def test_the_ray_head_does_no_rendering_and_ray_does_not_autoscale_against_the_orchestrator(rendered):
    rc = one(rendered, "RayCluster")
    assert rc["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    assert rc["spec"]["enableInTreeAutoscaling"] is False


def test_dev_is_cpu_only_and_small(dev):
    assert "nvidia.com/gpu" not in json.dumps(dev)
    rc = one(dev, "RayCluster")
    assert [(g["groupName"], g["maxReplicas"]) for g in rc["spec"]["workerGroupSpecs"]] == [("cpu", 1)]
    assert one(dev, "PersistentVolumeClaim")["spec"]["resources"]["requests"]["storage"] == "1Gi"


def test_gpu_has_one_worker_group_per_class_that_the_scaler_and_discovery_agree_on(gpu):
    rc = one(gpu, "RayCluster")
    groups = {g.gpu_class: g for g in worker_groups(rc)}
    assert sorted(groups) == ["a10g", "h100", "l40s"]
    assert all(c in PriceBook().usd_per_hour for c in groups)
    table = ClassTable()
    for spec in rc["spec"]["workerGroupSpecs"]:
        group = groups[spec["template"]["metadata"]["labels"]["shotfarm.io/gpu-class"]]
        pod = spec["template"]["spec"]
        assert group.gpus_per_replica == 1 and 0 <= group.min_replicas <= group.max_replicas
        assert table.class_of(pod["nodeSelector"]) == group.gpu_class, spec["groupName"]
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
        (c,) = pod["containers"]
        assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert c["image"] == f"ghcr.io/shotfarm/shotfarm-cuda:{VERSION}"
        assert f'"gpu_class_{group.gpu_class}": 1' in spec["rayStartParams"]["resources"].replace("\\", "")


def test_gpu_workers_are_never_evicted_mid_chunk_and_finish_the_chunk_when_told_to_stop(gpu):
    from nodes.busy import main as busy_main

    rc = one(gpu, "RayCluster")
    assert rc["spec"]["enableInTreeAutoscaling"] is False, "KubeRay honours workersToDelete only without Ray's autoscaler"
    for spec in rc["spec"]["workerGroupSpecs"]:
        template = spec["template"]
        assert template["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"
        (c,) = template["spec"]["containers"]
        command = c["lifecycle"]["preStop"]["exec"]["command"]
        assert command[:3] == ["python", "-m", "nodes.busy"], spec["groupName"]
        wait = float(command[command.index("--wait") + 1])
        assert 0 < wait < template["spec"]["terminationGracePeriodSeconds"], "the wait ends inside the grace period"
        with pytest.raises(SystemExit) as parsed:  # the command line is one the module accepts
            busy_main([*command[3:], "--help"])
        assert parsed.value.code == 0


def test_network_policies_deny_by_default_and_admit_each_workload(rendered):
    policies = [d for d in rendered if d["kind"] == "NetworkPolicy"]
    deny = one(policies, "NetworkPolicy", "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    selected = {
        json.dumps(p["spec"]["podSelector"].get("matchLabels", {}), sort_keys=True)
        for p in policies
        if p["spec"]["podSelector"]
    }
    assert selected == {
        '{"app.kubernetes.io/name": "shotfarm-orchestrator"}',
        '{"app.kubernetes.io/name": "shotfarm-minio"}',
        '{"ray.io/cluster": "shotfarm"}',
    }
    prometheus = {"app.kubernetes.io/name": "prometheus"}
    scrape_ports = sorted(
        port["port"]
        for p in policies
        for rule in p["spec"].get("ingress", [])
        if any(f.get("podSelector", {}).get("matchLabels") == prometheus for f in rule["from"])
        for port in rule["ports"]
    )
    assert scrape_ports == [8080, 9400]


def test_images_are_the_projects_at_its_version_or_pinned_third_party(rendered):
    images = {c["image"] for _, c in containers(rendered)}
    ours = {i for i in images if i.startswith("ghcr.io/shotfarm/")}
    assert ours <= {f"ghcr.io/shotfarm/shotfarm:{VERSION}", f"ghcr.io/shotfarm/shotfarm-cuda:{VERSION}"}
    assert all(re.fullmatch(r"quay\.io/minio/minio:RELEASE\.[0-9TZ-]+", i) for i in images - ours)


def test_the_dashboards_configmap_carries_every_dashboard_verbatim(rendered):
    cm = one(rendered, "ConfigMap", "shotfarm-dashboards")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    files = sorted((REPO / "monitoring" / "dashboards").glob("*.json"))
    assert sorted(cm["data"]) == [f.name for f in files]
    assert all(cm["data"][f.name] == f.read_text() for f in files)


# -- the image ----------------------------------------------------------------------


def test_the_dockerfile_builds_the_image_the_manifests_run(rendered):
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu" in text and "ARG TORCH_VERSION=2.13.0" in text
    user = re.search(r"^USER (\d+)(?::(\d+))?$", text, re.M)
    assert user and int(user.group(1)) != 0
    uids = {pod["securityContext"]["runAsUser"] for d in rendered for w, pod in pod_specs(d) if "minio" not in w}
    assert uids == {int(user.group(1))}


def test_the_dockerfile_passes_hadolint():
    out = subprocess.run([tool("hadolint"), str(REPO / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
