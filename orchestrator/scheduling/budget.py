"""Budgets: what a sequence will have cost when it is done, projected now.

Projected cost = spent so far + the cost units still to render x the
blended price of a unit on the classes that can run them. The blend is the
farm's dollars per second over its units per second (each class weighted
by its node count and learned speed), which is what a run that keeps every
capable node busy pays. Until the runtime model has measured the engine
there is no projection: a guess must not pause a render.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from orchestrator.scheduling.farm import FarmConfig
from orchestrator.scheduling.runtime import Key, RuntimeModel


def usd_per_unit(farm: FarmConfig, model: RuntimeModel, key: Key, classes: Mapping[str, int]) -> float:
    """Blended USD per cost unit over `classes` (name -> nodes; all zero counts as one each)."""
    counts = dict(classes) if any(classes.values()) else {k: 1 for k in classes}
    dollars = units = 0.0
    for name, n in counts.items():
        if n <= 0:
            continue
        spu = model.seconds_per_unit(key, name, farm.speed(name))
        dollars += n * farm.rate(name) / 3600.0
        units += n / spu
    return dollars / units if units > 0 else 0.0


def projected_usd(
    farm: FarmConfig,
    model: RuntimeModel,
    spent: float,
    units_left: Iterable[tuple[Key, float]],
    classes: Mapping[str, int],
) -> float:
    return spent + sum(units * usd_per_unit(farm, model, key, classes) for key, units in units_left if units > 0)
