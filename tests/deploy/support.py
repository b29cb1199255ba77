"""Checks for deployment artefacts: kustomize rendering, CRD schemas, pod security.

The CRD check loads the pinned CustomResourceDefinitions from shared/ beside
the clone and validates custom resources against their openAPIV3Schema with
jsonschema. In strict mode every object schema that lists properties and
does not preserve unknown fields gets additionalProperties: false, which is
what the API server's pruning would silently do to a misspelt field. It does
not evaluate CEL rules or defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).parents[2]
CRDS = Path(__file__).parents[2].parent / "shared" / "data" / "crds"
CI = bool(os.environ.get("CI"))
K8S_VERSION = "1.32"
"""Built-in kinds are validated against this Kubernetes version (kubectl here is 1.32 too)."""
CRD_FILES = {
    ("ray.io", "RayCluster"): "ray.io_rayclusters.yaml",
    ("monitoring.coreos.com", "ServiceMonitor"): "monitoring.coreos.com_servicemonitors.yaml",
    ("monitoring.coreos.com", "PodMonitor"): "monitoring.coreos.com_podmonitors.yaml",
    ("monitoring.coreos.com", "PrometheusRule"): "monitoring.coreos.com_prometheusrules.yaml",
}


def missing(what: str) -> None:
    """A missing tool or data file fails in CI (it must install it) and skips elsewhere."""
    if CI:
        pytest.fail(f"{what} is missing; CI must provide it")
    pytest.skip(f"{what} is missing")


def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if path is None:
        missing(f"the `{name}` command")
    return str(path)


def crds_dir() -> Path:
    if not all((CRDS / f).is_file() for f in CRD_FILES.values()):
        missing(f"the pinned CRDs in {CRDS}")
    return CRDS


def render(overlay: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [tool("kubectl"), "kustomize", str(REPO / "k8s" / "overlays" / overlay)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def is_custom(doc: dict[str, Any]) -> bool:
    return (doc["apiVersion"].split("/")[0], doc["kind"]) in CRD_FILES


# -- CRD schemas ----------------------------------------------------------------


def _closed(schema: Any) -> Any:
    if isinstance(schema, dict):
        schema = {k: _closed(v) for k, v in schema.items()}
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


@cache
def crd_validator(group: str, kind: str, version: str, strict: bool = True) -> jsonschema.Draft7Validator:
    crd = yaml.safe_load((crds_dir() / CRD_FILES[(group, kind)]).read_text())
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema = copy.deepcopy(served["schema"]["openAPIV3Schema"])
    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(_closed(schema) if strict else schema)


def crd_errors(doc: dict[str, Any]) -> list[str]:
    group, version = doc["apiVersion"].split("/")
    validator = crd_validator(group, doc["kind"], version)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


# -- pod security -----------------------------------------------------------------


def pod_specs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, pod spec) for every pod template a resource carries."""
    name = f"{doc['kind']}/{doc['metadata']['name']}"
    spec = doc.get("spec", {})
    if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
        yield name, spec["template"]["spec"]
    elif doc["kind"] == "RayCluster":
        yield f"{name} head", spec["headGroupSpec"]["template"]["spec"]
        for group in spec.get("workerGroupSpecs", []):
            yield f"{name} group {group['groupName']}", group["template"]["spec"]


def security_problems(doc: dict[str, Any]) -> list[str]:
    """What keeps a workload from the restricted profile and the farm's own rules, one line each."""
    problems = []
    for where, pod in pod_specs(doc):
        pod_ctx = pod.get("securityContext", {})
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(flag):
                problems.append(f"{where}: {flag} is set")
        problems += [f"{where}: hostPath volume {v['name']}" for v in pod.get("volumes", []) if "hostPath" in v]
        for c in pod.get("initContainers", []) + pod.get("containers", []):
            problems += [f"{where} container {c['name']}: {p}" for p in _container_problems(c, pod_ctx)]
    return problems


def _container_problems(c: dict[str, Any], pod_ctx: dict[str, Any]) -> list[str]:
    ctx = c.get("securityContext", {})
    out = []
    if ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is not True:
        out.append("runAsNonRoot is not true")
    if ctx.get("runAsUser", pod_ctx.get("runAsUser")) == 0:
        out.append("runs as uid 0")
    if ctx.get("readOnlyRootFilesystem") is not True:
        out.append("readOnlyRootFilesystem is not true")
    if ctx.get("allowPrivilegeEscalation") is not False:
        out.append("allowPrivilegeEscalation is not false")
    if ctx.get("privileged"):
        out.append("privileged")
    caps = ctx.get("capabilities", {})
    if "ALL" not in caps.get("drop", []):
        out.append("capabilities do not drop ALL")
    if caps.get("add"):
        out.append(f"adds capabilities {caps['add']}")
    seccomp = ctx.get("seccompProfile", pod_ctx.get("seccompProfile", {}))
    if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
        out.append("seccompProfile is not RuntimeDefault")
    resources = c.get("resources", {})
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if resource not in resources.get(kind, {}):
                out.append(f"no {resource} {kind[:-1]}")
    image = c.get("image", "")
    if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
        out.append(f"image {image!r} is not pinned to a tag")
    return out


# -- looking things up in a rendering ------------------------------------------------


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return found


def containers(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(where, c) for d in docs for where, pod in pod_specs(d) for c in pod.get("containers", [])]


def orchestrator(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The orchestrator Deployment's one container."""
    (c,) = one(docs, "Deployment", "shotfarm-orchestrator")["spec"]["template"]["spec"]["containers"]
    return c


def parse_serve(argv: list[str]) -> argparse.Namespace:
    """A `shotfarm serve` command line as the real CLI parses it; argparse's complaint fails the test."""
    from orchestrator.interfaces.cli import parser

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = parser().parse_args(argv)
    except SystemExit:
        raise AssertionError(f"shotfarm {' '.join(argv)}: {err.getvalue().strip()}") from None
    assert args.command == "serve", argv
    return args
