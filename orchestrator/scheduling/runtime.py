"""The runtime model: how long a chunk will take, learned from chunks that finished.

A chunk's cost (pipelines.chunking: pixel-samples x bounces) already scales
with resolution and samples, so the model learns seconds per cost unit, per
(engine, width, height, samples) and node class. What it has not seen it
transfers: from the same key on another class (scaled by the classes'
speeds), from the engine on any key, and last from a prior. Observations
are folded from ChunkRendered events, so the model is a projection of the
log like everything else. Immutable: `observe` returns a new model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, int, int, int]
"""(engine, width, height, samples): what a chunk's seconds per cost unit depend on besides the class."""

# Past this many observations the mean becomes a moving average, so a model
# that was learned on yesterday's drivers follows today's.
WINDOW = 20


def _update(stats: dict[Any, tuple[int, float]], key: Any, value: float) -> dict[Any, tuple[int, float]]:
    n, mean = stats.get(key, (0, 0.0))
    n += 1
    copy = dict(stats)
    copy[key] = (n, mean + (value - mean) / min(n, WINDOW))
    return copy


@dataclass(frozen=True)
class RuntimeModel:
    prior: float = 2e-5
    """Seconds per cost unit on a speed-1.0 node before anything was measured."""
    exact: dict[tuple[Key, str], tuple[int, float]] = field(default_factory=dict)
    """(key, class) -> (observations, seconds per unit)."""
    normal: dict[Key, tuple[int, float]] = field(default_factory=dict)
    """key -> (observations, seconds per unit scaled to a speed-1.0 node), pooled over classes."""
    engines: dict[str, tuple[int, float]] = field(default_factory=dict)
    """engine -> the same, pooled over keys."""

    def observe(self, key: Key, gpu_class: str, speed: float, seconds: float, units: float) -> RuntimeModel:
        """Fold one finished chunk; chunks of no cost teach nothing."""
        if units <= 0 or seconds <= 0:
            return self
        spu = seconds / units
        return RuntimeModel(
            prior=self.prior,
            exact=_update(self.exact, (key, gpu_class), spu),
            normal=_update(self.normal, key, spu * speed),
            engines=_update(self.engines, key[0], spu * speed),
        )

    def reference(self, key: Key) -> float:
        """Seconds per unit on a speed-1.0 node: the currency of work and of the drain horizon."""
        hit = self.normal.get(key) or self.engines.get(key[0])
        return hit[1] if hit else self.prior

    def seconds_per_unit(self, key: Key, gpu_class: str, speed: float) -> float:
        hit = self.exact.get((key, gpu_class))
        if hit is not None:
            return hit[1]
        return self.reference(key) / speed

    def seconds(self, key: Key, gpu_class: str, speed: float, units: float) -> float:
        return units * self.seconds_per_unit(key, gpu_class, speed)

    def knows(self, engine: str) -> bool:
        """Whether any chunk of this engine was measured (predictions are more than the prior)."""
        return engine in self.engines

    def observations(self) -> int:
        return sum(n for n, _ in self.engines.values())


def key_of(engine: str, resolution: tuple[int, int], samples: int) -> Key:
    return (engine, int(resolution[0]), int(resolution[1]), int(samples))
