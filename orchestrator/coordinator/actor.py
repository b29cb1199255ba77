"""The coordinator on the farm's own adapters: the event log, the store and Ray node pools.

CoordinatorActor opens them in the process Ray starts it in (an SQLite
connection cannot travel), and that process is the coordinator's alone.
Only one coordinator may own a log: it holds an exclusive lock on it, and a
successor (a restart after a crash) waits until the old one has gone.
"""

from __future__ import annotations

import asyncio
import gc
import os
from typing import Any

from nodes.pool import NodeSlot, start_check_node, start_master_node, start_render_nodes, stop_render_nodes
from nodes.storage import open_store
from orchestrator.config.settings import FarmSettings
from orchestrator.coordinator.interpreter import Coordinator, Nodes
from orchestrator.core.admission import BadRequest
from orchestrator.eventlog.location import is_server_log, open_log
from orchestrator.eventlog.sqlite import LogOwned, own_log


def settle_heap() -> None:
    """Hide what the coordinator's process holds for good (its modules, the replayed state, a
    sequence just planned) from Python's cycle collector.

    A full collection walks every object the collector tracks, and Ray's and pydantic's modules and
    a farm's queued chunks are most of them: one came every few hundred events, a tenth of a second
    each with a thousand chunks queued (a tenth of the time they took to dispatch). Frozen objects
    are still freed when nothing refers to them; only a reference cycle among them would stay, and
    the state holds none. The young generations are collected first, so that no garbage still
    waiting there is frozen with the rest.
    """
    gc.collect(1)
    gc.freeze()


class LogBusy(BadRequest):
    """Another coordinator still owns the event log."""


class RayPools:
    """Render, master and check nodes as long-lived Ray actors (nodes.pool)."""

    def __init__(self, store_url: str, settings: FarmSettings):
        self.store_url, self.settings = store_url, settings

    def start(self, slots: list[NodeSlot], gpus: int) -> Nodes:
        pool, timeout = self.settings.pool, self.settings.timeouts.call
        render = start_render_nodes(slots, self.store_url, pool.torch_threads, timeout, wait=pool.wait_for_nodes)
        return Nodes(render, start_master_node(self.store_url, timeout), start_check_node(self.store_url, gpus, timeout))

    def cancel(self, call: Any) -> None:
        import ray

        ray.cancel(call)


class CoordinatorActor(Coordinator):
    """The coordinator on the farm's own adapters: what Ray starts, and what a test or a LocalFarm builds in-process.

    It owns the log at `log_path` (waiting up to the lock timeout for a
    previous owner), opens it, the store at `store_url`, and Ray node pools.
    """

    def __init__(self, log_path: str, store_url: str, settings: FarmSettings, fence: int | None = None):
        # A SQLite log is owned through the lock file beside it; a PostgreSQL log through a
        # lease in the database (eventlog.lease): `fence` is the token of the lease `serve`
        # took for this farm, else the log takes the lease itself.
        server = is_server_log(log_path)
        try:
            lock_fd = None if server else own_log(str(log_path) + ".lock", settings.timeouts.lock)
            log = open_log(log_path, own_timeout=settings.timeouts.lock if server else None, fence=fence)
        except LogOwned as e:
            raise LogBusy(str(e)) from None
        try:
            super().__init__(log, open_store(store_url), RayPools(store_url, settings), settings)
        except BaseException:
            log.close()
            if lock_fd is not None:
                os.close(lock_fd)
            raise
        self._lock_fd = lock_fd
        settle_heap()  # this process is the coordinator's own (Ray starts it)

    async def submit(self, spec: dict[str, Any]) -> str:
        sid = await super().submit(spec)
        settle_heap()  # its chunks stay queued until they render
        return sid

    async def shutdown(self) -> None:
        # Render nodes hold warm engines (processes, device memory, a scratch folder): close them
        # before they go with this actor, which would end them without a word.
        nodes, self.nodes = self.nodes, {}
        await asyncio.to_thread(stop_render_nodes, nodes)
        await super().shutdown()
