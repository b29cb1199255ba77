"""What `shotfarm serve` does differently inside a Kubernetes cluster.

It joins the Ray cluster as a node with no CPU or GPU to offer, so that the
coordinator actor runs beside the event log on this pod's volume while
render nodes run on the worker groups; and it scales the RayCluster's GPU
worker groups to the queue from a background thread (operator.Scaler).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from orchestrator.cluster.adapter import ClusterAPI, ClusterError, KubeClusterAPI

NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_NAMESPACE = "shotfarm"


class ClusterModeError(ValueError):
    """Cluster mode cannot start; the message names the flag and what is wrong."""


def join_ray(address: str, timeout: float = 120.0) -> None:
    """Start a raylet here that joins the cluster whose GCS is at `address` (host:port)."""
    beside = Path(sys.executable).parent / "ray"
    command = [
        str(beside) if beside.exists() else "ray",
        "start",
        f"--address={address}",
        "--num-cpus=0",
        "--num-gpus=0",
        "--disable-usage-stats",
    ]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise ClusterModeError(f"--join {address}: the ray command is not installed") from None
    except subprocess.TimeoutExpired:
        raise ClusterModeError(f"--join {address}: no answer from the Ray cluster in {timeout:.0f} s") from None
    except subprocess.CalledProcessError as e:
        lines = (e.stderr or e.stdout or "").strip().splitlines()
        raise ClusterModeError(f"--join {address}: ray start failed: {lines[-1] if lines else e.returncode}") from None


def cluster_api(context: str | None) -> ClusterAPI:
    """The pod's service account, or a kubeconfig context when run from a workstation."""
    try:
        return KubeClusterAPI.from_kubeconfig(context) if context else KubeClusterAPI.in_cluster()
    except ClusterError as e:
        flag = f"--kube-context {context}" if context else "--cluster"
        raise ClusterModeError(f"{flag}: {e}") from None


def namespace(given: str | None, service_account: Path = NAMESPACE_FILE) -> str:
    """The flag's namespace, else the pod's own, else shotfarm."""
    if given:
        return given
    try:
        return service_account.read_text().strip() or DEFAULT_NAMESPACE
    except OSError:
        return DEFAULT_NAMESPACE
