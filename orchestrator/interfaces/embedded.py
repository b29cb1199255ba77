"""Embedded mode: a whole farm in one process tree (local Ray, a folder, SQLite).

The output folder holds everything: the event log (`shotfarm.db`), and the
store (`{show}/{sequence}/shots/...`, `{show}/{sequence}/master/...`).
Running the same sequence into the same folder again resumes it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import ray
from ray._private import ray_constants
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from nodes.storage import open_store
from orchestrator.config.settings import FarmSettings
from orchestrator.coordinator.actor import CoordinatorActor
from orchestrator.eventlog.sqlite import LOG_NAME
from orchestrator.interfaces import logs
from orchestrator.projections.progress import Progress
from orchestrator.scheduling.farm import FarmConfig
from pipelines.spec.sequence import Sequence

STUCK = {"budget", "no_capable_node"}
"""Waiting reasons that no amount of waiting resolves in an embedded run (nobody raises the budget)."""


class OutputNotWritable(OSError):
    pass


def prepare_out(out: Path) -> Path:
    """Create the output folder and prove it can be written, before any work starts."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise OutputNotWritable(f"--out {out}: cannot write there ({e.strerror or e})") from None
    return out


def _publish_reports(progress: Progress, out: Path, store_url: str) -> None:
    """The continuity report at the top of the output folder, where people look first."""
    store = open_store(store_url)
    for name, key in progress.deliverables.items():
        if name.startswith("continuity."):
            tmp = out / f".{name}.tmp"
            tmp.write_bytes(store.get(key))
            os.replace(tmp, out / name)


def ensure_ray(cpus: int | None, farm: FarmConfig | None = None, address: str | None = None, worker_logs: TextIO | None = None) -> bool:
    """Connect to the cluster at `address` (or $RAY_ADDRESS), or start a local Ray; False if Ray was up already.

    A local Ray offers each class's custom resource as many times as the
    class has nodes, so a farm config runs on a laptop with its classes
    faked; in a cluster the worker groups offer them. The actors log at this
    process's level and format (interfaces.logs), and what they write comes
    out on `worker_logs` (stderr).
    """
    if ray.is_initialized():
        return False
    # Ray's own driver-side messages stay at ERROR: progress and results are the farm's to report.
    options: dict[str, Any] = dict(
        log_to_driver=True, logging_level="ERROR", configure_logging=True, runtime_env=logs.runtime_env()
    )
    if address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=address, **options)  # the cluster decides CPUs, GPUs and resources
    else:
        fake = {c.resource: float(c.count) for c in (farm.classes if farm else ()) if c.resource and c.gpus == 0}
        # address="local": a Ray of its own, even when `ray start` left a cluster running on this machine.
        ray.init(address="local", num_cpus=cpus or os.cpu_count() or 1, resources=fake or None, include_dashboard=False, **options)
    logs.forward_worker_output(worker_logs or sys.stderr)
    return True


def stop_ray() -> None:
    """Stop the Ray ``ensure_ray`` started or connected to: a local one at once; a cluster's, by disconnecting.

    Ray's own stop gives each of its processes a second to end on SIGTERM, and
    the autoscaler monitor a local Ray starts (and never needs) takes all of
    it; at exit it also sleeps half a second for worker output. By the time
    this is called the farm has let go of everything (its log is durable, its
    nodes closed), so the monitor is killed outright and Ray stopped from
    here, not at exit. A process that only joined a cluster started none of
    Ray's processes, and kills none.
    """
    node = getattr(ray._private.worker, "_global_node", None)
    for info in node.all_processes.get(ray_constants.PROCESS_TYPE_MONITOR, []) if node is not None else []:
        info.process.kill()
    ray.shutdown()


def start_coordinator(log_path: Path | str, store_url: str, settings: FarmSettings, fence: int | None = None) -> Any:
    """The coordinator actor, pinned to this machine: the event log is a local SQLite file (or a PostgreSQL URL)."""
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    return (
        ray.remote(CoordinatorActor)
        .options(num_cpus=0, max_concurrency=64, scheduling_strategy=here)
        .remote(str(log_path), store_url, settings, fence)
    )


def render(
    sequence: Sequence,
    out: Path,
    settings: FarmSettings,
    on_progress: Callable[[Progress], None] = lambda p: None,
    poll: float = 0.5,
    store_url: str | None = None,
    rerender: tuple[str, ...] = (),
    log_url: str | None = None,
) -> Progress:
    """Render a sequence into `out`, resuming whatever the folder's log shows was done.

    Frames and masters go to `store_url` (default: the output folder itself);
    the event log to `log_url` (default: shotfarm.db in the output folder; or postgresql://).
    """
    out = prepare_out(out)
    store_url = store_url or str(out)
    calls = settings.timeouts.call
    resources = ray.cluster_resources()
    coordinator = start_coordinator(log_url or out / LOG_NAME, store_url, settings)
    try:
        ray.get(
            coordinator.start.remote(int(resources.get("CPU", 1)), int(resources.get("GPU", 0))),
            timeout=calls + settings.timeouts.lock,
        )
        sid = ray.get(coordinator.submit.remote(sequence.model_dump(mode="json")), timeout=calls)
        for shot in rerender:
            ray.get(coordinator.rerender.remote(sid, shot), timeout=calls)
        while True:
            progress: Progress = ray.get(coordinator.progress.remote(sid), timeout=calls)
            on_progress(progress)
            if progress.finished:
                _publish_reports(progress, out, store_url)
                return progress
            if progress.chunks_running == 0 and progress.status.value == "rendering":
                why: dict[str, int] = ray.get(coordinator.waiting.remote(sid), timeout=calls)
                # With nodes not waited for, "no capable node" may only mean none has joined yet.
                stuck = STUCK if settings.pool.wait_for_nodes else STUCK - {"no_capable_node"}
                if why and set(why) <= stuck:
                    # Paused or unrunnable: say so and stop instead of waiting for ever.
                    what = ", ".join(f"{n} chunks waiting: {reason}" for reason, n in sorted(why.items()))
                    return progress.model_copy(update={"reason": progress.reason or what})
            time.sleep(poll)
    finally:
        try:
            ray.get(coordinator.shutdown.remote(), timeout=calls)
        except Exception:
            pass  # it is being killed next anyway; the log is already durable
        ray.kill(coordinator)
