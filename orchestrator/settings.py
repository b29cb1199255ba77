"""One settings tree for a farm, grouped by concern, passed explicitly."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.cost import PriceBook


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PoolSettings(_Settings):
    cpu_nodes: int = Field(0, ge=0)
    """CPU render nodes to start; 0 means one per CPU Ray offers, when there is no GPU."""
    gpu_nodes: int = Field(0, ge=0)
    """GPU render nodes (one per GPU); 0 means one per GPU Ray offers."""
    slots_per_node: int = Field(2, ge=1, le=8)
    """Chunks a node may hold: one rendering and one waiting, so it never idles between chunks."""
    torch_threads: int = Field(1, ge=1)
    """Threads per CPU node; 1 so nodes do not fight over cores."""


class TimeoutSettings(_Settings):
    chunk: float = Field(1800.0, gt=0)
    """Seconds a chunk may take, queueing at its node included, before it is given up and retried."""
    stitch: float = Field(1800.0, gt=0)
    call: float = Field(120.0, gt=0)
    """Seconds for any short remote call (start, submit, progress)."""
    lock: float = Field(60.0, gt=0)
    """Seconds to wait for a previous coordinator on the same log to let go of it."""


class FarmSettings(_Settings):
    pool: PoolSettings = PoolSettings()
    timeouts: TimeoutSettings = TimeoutSettings()
    prices: PriceBook = PriceBook()
    chunk_frames: int = Field(8, ge=1, le=1000)
    """Chunk length in frames at the sequence's default quality (see pipelines.chunking)."""
    max_attempts: int = Field(3, ge=1)
    engine: str = "pathtracer"
    burn_in: bool = True
    """Burn shot name and frame number into the SDR review proxy."""
    metrics_port: int | None = Field(None, ge=0, le=65535)
    """Serve Prometheus metrics on this port while the farm runs (None: off)."""
    metrics_addr: str = "127.0.0.1"
    """Address the metrics endpoint binds; 0.0.0.0 in a cluster."""
