"""The manifests against the code they run.

The orchestrator's args are a `shotfarm serve` command line the real parser
accepts, wired to the ports, volumes and RayCluster beside it; every
environment variable a farm container sets is one the code reads; each
overlay's farm config fits its worker groups; the Secrets are referenced and
never shipped. Each check returns its problems one line each, and each is
shown to catch a broken rendering.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

import pytest
import yaml

from nodes.storage import S3Settings
from orchestrator.cluster.scaling import GroupConfigError, WorkerGroup, worker_groups
from orchestrator.config.farm_file import parse_farm
from orchestrator.config.settings import FarmSettings
from orchestrator.scheduling.farm import FarmConfig, NodeClass
from pipelines.spec.loading import SpecError
from tests.deploy.support import REPO, containers, one, orchestrator, parse_serve

Docs = list[dict[str, Any]]

READ_BY = {
    "SHOTFARM_TOKENS": "orchestrator/api/settings.py",
    "SHOTFARM_S3_ENDPOINT": "nodes/storage/settings.py",
    "SHOTFARM_S3_ACCESS_KEY": "nodes/storage/settings.py",
    "SHOTFARM_S3_SECRET_KEY": "nodes/storage/settings.py",
    "SHOTFARM_S3_SECURE": "nodes/storage/settings.py",
    "SHOTFARM_S3_REGION": "nodes/storage/settings.py",
    "SHOTFARM_S3_CREATE_BUCKET": "nodes/storage/settings.py",
}
"""Variables the farm's code reads, and the module that names them (a test checks it still does)."""
PLATFORM = {"HOME": "Python and Ray expand ~ with it: the writable /tmp, whatever uid runs the image"}
"""Variables the farm's containers may set for the runtime under it."""
NEVER = {
    "RAY_ADDRESS": "`serve --join` starts a raylet here and connects to it; RAY_ADDRESS would send ray.init "
    "elsewhere (ray:// makes the orchestrator a Ray Client, where the coordinator cannot live beside its log)",
}
ORCHESTRATOR_NEEDS = {"SHOTFARM_TOKENS", "SHOTFARM_S3_ENDPOINT", "SHOTFARM_S3_ACCESS_KEY", "SHOTFARM_S3_SECRET_KEY"}
"""The API refuses to start without tokens; an s3:// store needs its endpoint and credentials."""


def ours(image: str) -> bool:
    return image.startswith("ghcr.io/shotfarm/")


# -- the orchestrator's command line -------------------------------------------------------


def serve_problems(docs: Docs) -> list[str]:
    c = orchestrator(docs)
    try:
        args = parse_serve(c["args"])
    except AssertionError as e:
        return [str(e)]
    problems = [f"no {flag}: {why}" for flag, why in _missing_flags(args)]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    if args.port != ports.get("http") or args.host != "0.0.0.0":
        problems.append(f"--host {args.host} --port {args.port} is not the pod's http port {ports.get('http')}")
    if args.metrics_port is not None:
        problems += _metrics_problems(docs, args.metrics_port, ports)
    if args.metrics_addr != "0.0.0.0":
        problems.append(f"--metrics-addr {args.metrics_addr}: Prometheus scrapes the pod IP")
    rc = one(docs, "RayCluster")
    name = rc["metadata"]["name"]
    if args.raycluster != name or name not in one(docs, "Role")["rules"][0]["resourceNames"]:
        problems.append(f"--raycluster {args.raycluster} is not the RayCluster {name} its Role may patch")
    gcs = f"{name}-head-svc:{rc['spec']['headGroupSpec']['rayStartParams'].get('port', '6379')}"
    if args.join and args.join != gcs:
        problems.append(f"--join {args.join} is not the head's GCS, {gcs}")
    if args.namespace not in (None, one(docs, "Deployment")["metadata"]["namespace"]):
        problems.append(f"--namespace {args.namespace} is not the orchestrator's own")
    mounts = _mounts(docs)
    if "persistentVolumeClaim" not in mounts.get(str(args.out), {}):
        problems.append(f"--out {args.out} is not on a persistent volume: the event log would die with the pod")
    if args.farm is not None and "configMap" not in mounts.get(str(PurePosixPath(args.farm).parent), {}):
        problems.append(f"--farm {args.farm} is not in a mounted ConfigMap")
    return problems


def _missing_flags(args: Any) -> list[tuple[str, str]]:
    wanted = [
        ("--join", args.join, "the coordinator would run in a Ray of its own, not on the cluster"),
        ("--cluster", args.cluster, "nothing scales the GPU worker groups"),
        ("--farm", args.farm, "no node classes: nothing places render nodes on the worker groups"),
        ("--metrics-port", args.metrics_port, "the ServiceMonitor scrapes nothing"),
    ]
    return [(flag, why) for flag, value, why in wanted if not value]


def _metrics_problems(docs: Docs, port: int, container_ports: dict[str, int]) -> list[str]:
    problems = []
    if container_ports.get("metrics") != port:
        problems.append(f"--metrics-port {port} is not the container's metrics port {container_ports.get('metrics')}")
    service = {p["name"]: p for p in one(docs, "Service", "shotfarm-orchestrator")["spec"]["ports"]}
    for endpoint in one(docs, "ServiceMonitor")["spec"]["endpoints"]:
        target = service.get(endpoint["port"], {}).get("targetPort")
        if container_ports.get(target, target) != port:
            problems.append(f"the ServiceMonitor's port {endpoint['port']} does not reach --metrics-port {port}")
    return problems


def _mounts(docs: Docs) -> dict[str, dict[str, Any]]:
    """mountPath -> the volume mounted there, in the orchestrator's pod."""
    pod = one(docs, "Deployment", "shotfarm-orchestrator")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    return {m["mountPath"]: volumes[m["name"]] for m in orchestrator(docs)["volumeMounts"]}


def test_the_orchestrator_runs_a_serve_command_the_cli_accepts_wired_to_the_cluster(rendered):
    assert serve_problems(rendered) == []
    args = parse_serve(orchestrator(rendered)["args"])
    assert args.join and args.cluster and args.farm and args.metrics_port == 9400


def drop(flag: str) -> Callable[[list[str]], list[str]]:
    return lambda argv: [a for a in argv if a.split("=")[0] != flag]


def swap(flag: str, value: str) -> Callable[[list[str]], list[str]]:
    return lambda argv: [f"{flag}={value}" if a.split("=")[0] == flag else a for a in argv]


BROKEN_ARGS = [
    (lambda argv: [*argv, "--log=mysql://db/shotfarm"], "mysql:// is not a log this farm can use"),
    (lambda argv: ["serve", "--api-port=8000", *argv[1:]], "unrecognized arguments: --api-port"),
    (swap("--port", "http"), "--port: expected a whole number, got 'http'"),
    (drop("--join"), "no --join"),
    (drop("--cluster"), "no --cluster"),
    (drop("--farm"), "no --farm"),
    (drop("--metrics-port"), "no --metrics-port"),
    (swap("--metrics-port", "9401"), "--metrics-port 9401 is not the container's metrics port 9400"),
    (swap("--metrics-addr", "127.0.0.1"), "--metrics-addr 127.0.0.1"),
    (swap("--port", "8470"), "--port 8470 is not the pod's http port 8000"),
    (swap("--join", "shotfarm-head-svc:10001"), "--join shotfarm-head-svc:10001 is not the head's GCS"),
    (swap("--raycluster", "farm"), "--raycluster farm is not the RayCluster shotfarm"),
    (swap("--out", "/tmp"), "--out /tmp is not on a persistent volume"),
    (swap("--farm", "/var/lib/shotfarm/farm.yaml"), "--farm /var/lib/shotfarm/farm.yaml is not in a mounted ConfigMap"),
    (lambda argv: [*argv, "--namespace=default"], "--namespace default is not the orchestrator's own"),
]  # fmt: skip


@pytest.mark.parametrize("change, expected", BROKEN_ARGS, ids=[b[1] for b in BROKEN_ARGS])
def test_a_broken_orchestrator_command_line_is_caught(dev, change, expected):
    docs = copy.deepcopy(dev)
    c = orchestrator(docs)
    c["args"] = change(c["args"])
    assert any(expected in p for p in serve_problems(docs)), serve_problems(docs)


# -- the environment ------------------------------------------------------------------


def env_problems(docs: Docs) -> list[str]:
    problems = []
    for where, c in containers(docs):
        if not ours(c["image"]):
            continue
        names = {e["name"] for e in c.get("env", [])}
        for name in sorted(names):
            if name in NEVER:
                problems.append(f"{where}: sets {name}: {NEVER[name]}")
            elif name not in READ_BY and name not in PLATFORM:
                problems.append(f"{where}: sets {name}, which no code of the farm reads")
        if c is orchestrator(docs):
            problems += [f"{where}: does not set {n}" for n in sorted(ORCHESTRATOR_NEEDS - names)]
    return problems


def test_every_variable_a_farm_container_sets_is_one_the_code_reads(rendered):
    assert env_problems(rendered) == []


@pytest.mark.parametrize("name, module", sorted(READ_BY.items()))
def test_the_code_still_reads_each_variable_where_the_list_says(name, module):
    assert f'"{name}"' in (REPO / module).read_text(), f"{module} no longer reads {name}; update READ_BY"


BROKEN_ENV = [
    ({"name": "RAY_ADDRESS", "value": "ray://shotfarm-head-svc:10001"}, "sets RAY_ADDRESS: `serve --join`"),
    ({"name": "SHOTFARM_STORE_URL", "value": "s3://shotfarm-frames"}, "sets SHOTFARM_STORE_URL, which no code"),
    ("SHOTFARM_TOKENS", "does not set SHOTFARM_TOKENS"),
]


@pytest.mark.parametrize("change, expected", BROKEN_ENV, ids=[b[1] for b in BROKEN_ENV])
def test_a_variable_nothing_reads_or_a_missing_one_is_caught(dev, change, expected):
    docs = copy.deepcopy(dev)
    env = orchestrator(docs)["env"]
    if isinstance(change, str):
        env[:] = [e for e in env if e["name"] != change]
    else:
        env.append(change)
    assert any(expected in p for p in env_problems(docs)), env_problems(docs)


def test_the_orchestrators_store_url_and_environment_open_minio(rendered):
    c = orchestrator(rendered)
    env = {e["name"]: e.get("value", "from-a-secret") for e in c["env"]}
    settings = S3Settings.from_url(parse_serve(c["args"]).store, env)
    assert (settings.bucket, settings.endpoint) == ("shotfarm-frames", "shotfarm-minio:9000")
    assert settings.create_bucket and not settings.secure


# -- the farm config beside the worker groups ---------------------------------------------


def farm_config(docs: Docs) -> tuple[dict[str, Any], str, str]:
    """(the ConfigMap mounted at --farm, the data key, its text)."""
    farm = PurePosixPath(parse_serve(orchestrator(docs)["args"]).farm)
    volume = _mounts(docs)[str(farm.parent)]
    cm = one(docs, "ConfigMap", volume["configMap"]["name"])
    return cm, farm.name, cm["data"][farm.name]


def offered(group: dict[str, Any]) -> dict[str, float]:
    """The custom resources a worker group's rayStartParams give Ray (KubeRay passes the value to a shell)."""
    raw = group.get("rayStartParams", {}).get("resources")
    if raw is None:
        return {}
    (word,) = shlex.split(raw)
    return {k: float(v) for k, v in json.loads(word).items()}


def farm_problems(docs: Docs) -> list[str]:
    cm, key, text = farm_config(docs)
    try:
        farm = parse_farm(yaml.safe_load(text), f"ConfigMap {cm['metadata']['name']} {key}")
        FarmSettings(farm=farm)  # what `serve --farm` builds: prices from the classes
        rc = one(docs, "RayCluster")
        groups = {g.name: g for g in worker_groups(rc)}
    except SpecError as e:
        return [e.render()]
    except (GroupConfigError, ValueError) as e:
        return [str(e)]
    resources = {spec["groupName"]: offered(spec) for spec in rc["spec"]["workerGroupSpecs"]}
    problems = [p for c in farm.classes for p in _class_problems(c, groups, resources)]
    used = {c.resource for c in farm.classes}
    for name, group in groups.items():
        problems += [f"worker group {name}: offers {r}, which no class uses" for r in resources[name] if r not in used]
        if group.gpu_class is None:
            continue
        node_class = farm.node_class(group.gpu_class)
        if node_class is None:
            problems.append(f"worker group {name} is labelled {group.gpu_class}, a class the farm config lacks")
        elif node_class.resource not in resources[name]:
            why = f"is labelled {group.gpu_class} but does not offer {node_class.resource}"
            problems.append(f"worker group {name} {why}")
    return problems


def _class_problems(
    node_class: NodeClass, groups: dict[str, WorkerGroup], resources: dict[str, dict[str, float]]
) -> list[str]:
    name, resource = node_class.name, node_class.resource
    if resource is None:
        return [f"class {name}: no resource, so its nodes may land on any Ray node"]
    owners = sorted(g for g, offers in resources.items() if resource in offers)
    if len(owners) != 1:
        return [f"class {name}: resource {resource} is offered by {len(owners)} worker groups {owners}, not one"]
    group = groups[owners[0]]
    problems = []
    per_replica = resources[group.name][resource]
    if node_class.count > group.max_replicas * per_replica:
        room = f"maxReplicas {group.max_replicas} x {per_replica:g} {resource}"
        problems.append(f"class {name}: count {node_class.count} is more than group {group.name}'s {room}")
    if node_class.gpus > 0 and node_class.count * node_class.gpus > group.max_replicas * group.gpus_per_replica:
        room = f"maxReplicas {group.max_replicas} x {group.gpus_per_replica} GPUs"
        problems.append(f"class {name}: {node_class.count} nodes of {node_class.gpus:g} GPUs outgrow {room}")
    if (node_class.gpus > 0) != (group.gpus_per_replica > 0):
        what = f"{node_class.gpus:g} GPUs per node on group {group.name} with {group.gpus_per_replica} per replica"
        problems.append(f"class {name}: asks Ray for {what}")
    if group.gpu_class not in (None, name):
        problems.append(f"class {name}: its group {group.name} is labelled {group.gpu_class}")
    return problems


def test_the_farm_config_parses_and_fits_the_worker_groups(rendered):
    assert farm_problems(rendered) == []


def test_dev_renders_as_one_cpu_class_and_gpu_as_one_class_per_gpu_group(dev, gpu):
    def classes(docs: Docs) -> FarmConfig:
        return parse_farm(yaml.safe_load(farm_config(docs)[2]))

    assert [(c.name, c.resource, c.gpus, c.count) for c in classes(dev).classes] == [("cpu", "gpu_class_cpu", 0, 1)]
    gpu_classes = {c.name: (c.resource, c.gpus, c.count) for c in classes(gpu).classes}
    assert gpu_classes == {
        "h100": ("gpu_class_h100", 1, 8), "l40s": ("gpu_class_l40s", 1, 8), "a10g": ("gpu_class_a10g", 1, 16),
    }  # fmt: skip
    assert all(c.usd_per_hour > 0 for c in classes(gpu).classes)  # what --gpu-budget is spent on


def edit_farm(docs: Docs, change: Callable[[dict[str, Any]], None]) -> None:
    cm, key, text = farm_config(docs)
    data = yaml.safe_load(text)
    change(data)
    cm["data"][key] = yaml.safe_dump(data)


def edit_class(name: str, **values: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        (node_class,) = [c for c in data["classes"] if c["name"] == name]
        node_class.update(values)

    return change


def edit_group(name: str, change: Callable[[dict[str, Any]], None]) -> Callable[[Docs], None]:
    def edit(docs: Docs) -> None:
        (group,) = [g for g in one(docs, "RayCluster")["spec"]["workerGroupSpecs"] if g["groupName"] == name]
        change(group)

    return edit


def label(value: str) -> Callable[[dict[str, Any]], None]:
    return lambda g: g["template"]["metadata"]["labels"].update({"shotfarm.io/gpu-class": value})


def offer(resource: str) -> Callable[[dict[str, Any]], None]:
    return lambda g: g["rayStartParams"].update(resources=f'"{{\\"{resource}\\": 1}}"')


BROKEN_FARM = [
    ("gpu", lambda d: edit_farm(d, edit_class("h100", count=9)), "class h100: count 9 is more than group gpu-h100's"),
    ("gpu", lambda d: edit_farm(d, edit_class("h100", resource="gpu_class_h200")),
     "class h100: resource gpu_class_h200 is offered by 0 worker groups"),
    ("gpu", lambda d: edit_farm(d, edit_class("l40s", gpus=0)), "class l40s: asks Ray for 0 GPUs per node"),
    ("gpu", lambda d: edit_farm(d, edit_class("l40s", resource=None)), "class l40s: no resource"),
    ("gpu", lambda d: edit_farm(d, edit_class("a10g", usd_per_hour=-1)), "usd_per_hour must be zero or more"),
    ("gpu", lambda d: edit_farm(d, lambda f: f["classes"].pop()), "labelled a10g, a class the farm config lacks"),
    ("gpu", edit_group("gpu-a10g", offer("gpu_class_l40s")),
     "class l40s: resource gpu_class_l40s is offered by 2 worker groups"),
    ("gpu", edit_group("gpu-l40s", label("a10g")), "worker groups gpu-l40s and gpu-a10g both serve a10g"),
    ("gpu", edit_group("gpu-h100", lambda g: g.update(maxReplicas=4)), "class h100: count 8 is more than"),
    ("dev", lambda d: edit_farm(d, edit_class("cpu", count=2)), "class cpu: count 2 is more than group cpu's"),
    ("dev", lambda d: edit_farm(d, edit_class("cpu", gpus=1)), "class cpu: asks Ray for 1 GPUs per node"),
    ("dev", edit_group("cpu", offer("gpu_class_cpus")), "worker group cpu: offers gpu_class_cpus, which no class"),
]  # fmt: skip


@pytest.mark.parametrize("overlay, change, expected", BROKEN_FARM, ids=[b[2] for b in BROKEN_FARM])
def test_a_farm_config_that_does_not_fit_the_worker_groups_is_caught(dev, gpu, overlay, change, expected):
    docs = copy.deepcopy(dev if overlay == "dev" else gpu)
    change(docs)
    assert any(expected in p for p in farm_problems(docs)), farm_problems(docs)


# -- Secrets: referenced, never contained ---------------------------------------------------


def secret_names(node: Any) -> set[str]:
    """Every Secret a pod template names: env, envFrom, volumes (projected too), image pull."""
    if isinstance(node, list):
        return {n for v in node for n in secret_names(v)}
    if not isinstance(node, dict):
        return set()
    here = {node[k]["name"] for k in ("secretKeyRef", "secretRef") if k in node}
    if isinstance(node.get("secret"), dict):
        here.add(node["secret"].get("secretName") or node["secret"]["name"])
    here |= {s["name"] for s in node.get("imagePullSecrets", [])}
    return here | {n for v in node.values() for n in secret_names(v)}


def secret_problems(docs: Docs) -> list[str]:
    shipped = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
    return [f"Secret {n} is in the manifests: its values belong outside git" for n in sorted(shipped)]


def test_the_secrets_are_referenced_and_none_is_shipped(rendered):
    assert secret_names(rendered) == {"shotfarm-minio", "shotfarm-api-tokens"}
    assert secret_problems(rendered) == []


def test_shipping_a_secret_is_caught(dev):
    docs = [*dev, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shotfarm-api-tokens"}}]
    assert secret_problems(docs) == ["Secret shotfarm-api-tokens is in the manifests: its values belong outside git"]


def test_the_secret_check_finds_every_way_a_pod_names_a_secret():
    container = {
        "envFrom": [{"secretRef": {"name": "bulk"}}],
        "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "one", "key": "k"}}}],
    }
    pod = {
        "imagePullSecrets": [{"name": "pull"}],
        "containers": [container],
        "volumes": [
            {"secret": {"secretName": "files"}},
            {"projected": {"sources": [{"secret": {"name": "projected"}}]}},
        ],
    }
    assert secret_names(pod) == {"pull", "bulk", "one", "files", "projected"}


CREATE_SECRET = r"create secret generic ([\w-]+)((?:\s+\\?\s*--from-\w+=[\w.-]+=\S*)+)"
"""`kubectl create secret generic NAME --from-literal=KEY=... --from-file=KEY=...`, continued lines too."""


def test_the_runbook_creates_every_secret_key_the_manifests_read(rendered):
    text = (REPO / "docs" / "runbook.md").read_text()
    created = {
        (name, key)
        for name, flags in re.findall(CREATE_SECRET, text)
        for key in re.findall(r"--from-\w+=([\w.-]+)=", flags)
    }
    refs = {
        (ref["name"], ref["key"])
        for _, c in containers(rendered)
        for e in c.get("env", [])
        if (ref := e.get("valueFrom", {}).get("secretKeyRef"))
    }
    assert refs and refs <= created, refs - created
