"""The price book: what a second of each node class costs.

Every ChunkRendered is priced when it is recorded (node-seconds x the class
rate), so cost is part of the log and a later price change never rewrites
what a finished sequence cost.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

# On-demand list prices per device-hour, rounded, for a single GPU (or one CPU
# core for "cpu"). They are defaults for a laptop run to show a figure, not a
# quote: a studio supplies its own book. "gpu" prices a local GPU of unknown
# model (embedded mode does not ask which one it is).
DEFAULT_RATES = {"cpu": 0.05, "gpu": 2.0, "a10g": 1.01, "l40s": 1.86, "h100": 3.93}


class PriceBook(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    usd_per_hour: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_RATES))

    @field_validator("usd_per_hour")
    @classmethod
    def _non_negative(cls, rates: dict[str, float]) -> dict[str, float]:
        bad = sorted(k for k, v in rates.items() if v < 0)
        if bad:
            raise ValueError(f"negative price for node class {', '.join(bad)}")
        return rates

    def rate(self, gpu_class: str) -> float:
        try:
            return self.usd_per_hour[gpu_class]
        except KeyError:
            raise KeyError(f"node class {gpu_class!r} has no price in the price book") from None

    def cost(self, gpu_class: str, node_seconds: float) -> float:
        return self.rate(gpu_class) * node_seconds / 3600.0
