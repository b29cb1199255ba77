"""Embedded mode: a whole farm in one process tree (local Ray, a folder, SQLite).

The output folder holds everything: the event log (`shotfarm.db`), and the
store (`{show}/{sequence}/shots/...`, `{show}/{sequence}/master/...`).
Running the same sequence into the same folder again resumes it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray

from nodes.storage import open_store
from orchestrator.coordinator import Coordinator
from orchestrator.progress import Progress
from orchestrator.settings import FarmSettings
from pipelines.spec.sequence import Sequence

LOG_NAME = "shotfarm.db"


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


def ensure_ray(cpus: int | None) -> None:
    if not ray.is_initialized():
        ray.init(
            num_cpus=cpus or os.cpu_count() or 1,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
            configure_logging=True,
        )


def render(
    sequence: Sequence,
    out: Path,
    settings: FarmSettings,
    on_progress: Callable[[Progress], None] = lambda p: None,
    poll: float = 0.5,
    store_url: str | None = None,
    rerender: tuple[str, ...] = (),
) -> Progress:
    """Render a sequence into `out`, resuming whatever the folder's log shows was done.

    Frames and masters go to `store_url` (default: the output folder itself);
    the event log always lives in the output folder.
    """
    out = prepare_out(out)
    store_url = store_url or str(out)
    calls = settings.timeouts.call
    resources = ray.cluster_resources()
    coordinator: Any = (
        ray.remote(Coordinator)
        .options(num_cpus=0, max_concurrency=64)
        .remote(str(out / LOG_NAME), store_url, settings)
    )
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
            time.sleep(poll)
    finally:
        try:
            ray.get(coordinator.shutdown.remote(), timeout=calls)
        except Exception:
            pass  # it is being killed next anyway; the log is already durable
        ray.kill(coordinator)
