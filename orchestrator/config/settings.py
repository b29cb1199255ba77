"""One settings tree for a farm, grouped by concern, passed explicitly."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestrator.config.cost import PriceBook
from orchestrator.core.state import Policy
from orchestrator.scheduling.farm import FarmConfig


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
    wait_for_nodes: bool = True
    """Start only once every render node answers. Off in cluster mode, where a class's
    nodes are placed when its worker group is scaled up to the queue."""


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
    exact: bool = False
    """Deliverables through OCIO's exact view processors instead of the baked views:
    about 30x the colour time per frame, for final delivery (pipelines.color.views)."""
    metrics_port: int | None = Field(None, ge=0, le=65535)
    """Serve Prometheus metrics on this port while the farm runs (None: off)."""
    metrics_addr: str = "127.0.0.1"
    """Address the metrics endpoint binds; 0.0.0.0 in a cluster."""
    farm: FarmConfig | None = None
    """Node classes (count, Ray resource, speed, price, what they run) and show subscriptions.
    None: the local farm, one node per CPU or GPU Ray offers (`pool`), priced by `prices`.
    Given, it starts one pool per class and its classes' rates are the price book."""

    @model_validator(mode="before")
    @classmethod
    def _prices_from_farm(cls, data: Any) -> Any:
        # One source for a class's price: the farm config's, unless a book is given too.
        if isinstance(data, dict) and data.get("farm") is not None and "prices" not in data:
            farm = data["farm"] if isinstance(data["farm"], FarmConfig) else FarmConfig.model_validate(data["farm"])
            data = {**data, "farm": farm, "prices": PriceBook(usd_per_hour=farm.rates())}
        return data

    @model_validator(mode="after")
    def _every_class_priced(self) -> FarmSettings:
        if self.farm is not None:
            for c in self.farm.classes:
                book = self.prices.usd_per_hour.get(c.name)
                if book is None:
                    raise ValueError(f"node class {c.name} has no price in the price book")
                if book != c.usd_per_hour:
                    raise ValueError(
                        f"node class {c.name} costs {c.usd_per_hour}/h in the farm config but {book}/h in the price book"
                    )
        return self

    @property
    def farm_config(self) -> FarmConfig:
        """What the scheduler plans with: the farm config, or the local farm's view of the price book."""
        return self.farm if self.farm is not None else FarmConfig.local(self.prices.usd_per_hour)

    @property
    def policy(self) -> Policy:
        """The knobs the pure core decides with, for this farm."""
        return Policy(max_attempts=self.max_attempts, farm=self.farm_config, engine=self.engine)
