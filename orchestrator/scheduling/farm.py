"""The farm config: node classes (a pool each) and show subscriptions.

A node class is a kind of render node (h100, l40s, a10g, cpu): how many to
start, the Ray resource that places them, how fast they are relative to each
other, what an hour costs and what they can run. A subscription gives a show
a guaranteed share of a class and a burst ceiling (OpenCue's size and burst,
as fractions of the class's slots).

Validation refuses what would otherwise fail later and quietly: a negative
price, a subscription to an unknown class, shares over 100%, and (checked
against a sequence) a shot that no class can run. This module reads no
files and imports nothing from Ray.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipelines.spec import limits
from pipelines.spec.limits import Count, Real

# Same names as the price book's defaults (orchestrator.config.cost.DEFAULT_RATES).
LOCAL_RATES = {"cpu": 0.05, "gpu": 2.0, "a10g": 1.01, "l40s": 1.86, "h100": 3.93}
ClassName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]


class FarmConfigError(ValueError):
    """The farm config cannot run what it is asked to; the message says what and why."""


@dataclass(frozen=True)
class Need:
    """What a shot asks of a node: an engine and room for a frame of this many pixels."""

    engine: str
    pixels: int

    def __str__(self) -> str:
        return f"engine {self.engine!r} at {self.pixels:,} pixels"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


_Seconds = Annotated[Real, Field(gt=0, le=limits.MAX_SECONDS)]


class NodeClass(_Model):
    name: ClassName
    count: Count = Field(0, ge=0, le=limits.MAX_CLASS_NODES)
    """Nodes of this class to start; 0 starts none (the class only prices and places work)."""
    resource: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """Ray custom resource each node of the class takes one of (e.g. gpu_class_h100); None: none."""
    gpus: Real = Field(0.0, ge=0, le=64)
    """Ray GPUs per node: 1 for a real GPU node, 0 where a custom resource stands in for one."""
    cpus: Real = Field(1.0, ge=0, le=1024)
    speed: Real = Field(1.0, gt=0, le=limits.MAX_SPEED)
    """Work per second relative to a speed-1.0 node; the runtime model replaces it once it has seen the class."""
    usd_per_hour: Real = Field(0.0, le=limits.MAX_PRICE)
    """Price of one node-hour; every ChunkRendered on the class is priced with it."""
    slots: Count = Field(2, ge=1, le=8)
    """Chunks a node may hold at once: one renders and one waits, so a node never idles between chunks."""
    engines: tuple[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")], ...] | None = Field(None, max_length=64)
    """Engines the class's nodes carry; None: every engine."""
    max_pixels: Count | None = Field(None, ge=1, le=limits.MAX_SIDE**2)
    """Largest frame (width x height) a node holds in memory; None: no limit."""

    @field_validator("usd_per_hour")
    @classmethod
    def _priced(cls, v: float) -> float:
        if v < 0:
            raise ValueError(f"usd_per_hour must be zero or more, got {v}")
        return v

    def can_run(self, need: Need) -> bool:
        engine_ok = self.engines is None or need.engine in self.engines
        return engine_ok and (self.max_pixels is None or need.pixels <= self.max_pixels)

    def why_not(self, need: Need) -> str:
        if self.engines is not None and need.engine not in self.engines:
            return f"{self.name} carries {', '.join(self.engines) or 'no engine'}"
        return f"{self.name} holds at most {self.max_pixels:,} pixels"


class Subscription(_Model):
    """A show's claim on a node class (or on every class when gpu_class is None)."""

    show: str = Field(min_length=1, max_length=64)
    gpu_class: str | None = Field(None, max_length=32)
    share: Real = Field(ge=0, le=1)
    """Guaranteed fraction of the class's slots: the show is served first while below it."""
    burst: Real = Field(1.0, ge=0, le=1)
    """Ceiling: the show never holds more than this fraction of the class's slots."""

    @model_validator(mode="after")
    def _burst_covers_share(self) -> Subscription:
        if self.burst < self.share:
            raise ValueError(f"show {self.show}: burst {self.burst} is below its share {self.share}")
        return self


class FarmConfig(_Model):
    classes: tuple[NodeClass, ...] = Field(min_length=1, max_length=limits.MAX_CLASSES)
    subscriptions: tuple[Subscription, ...] = Field((), max_length=limits.MAX_SUBSCRIPTIONS)
    prior_seconds_per_unit: Real = Field(2e-5, gt=0, le=1.0)
    """Seconds per chunk cost unit on a speed-1.0 node before anything was measured (a guess the model replaces)."""
    target_chunk_seconds: _Seconds | None = None
    """Plan chunks to last about this long once the runtime model knows the engine; None: fixed chunk_frames."""
    block_after: Count = Field(2, ge=1, le=1000)
    """Failures of a sequence's chunks on one node before that node is blocked for the sequence."""
    forgive_after: _Seconds = 600.0
    """Seconds after its last failure that a blocked node is forgiven (Afanasy's errors_forgive_time)."""
    critical_fraction: Real = Field(0.1, gt=0, le=1)
    """A chunk expected to take this fraction of the farm's drain time jumps the timeline (see docs/scheduling.md)."""

    @model_validator(mode="after")
    def _consistent(self) -> FarmConfig:
        names = [c.name for c in self.classes]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"node class names must be unique, repeated: {', '.join(dupes)}")
        resources = [c.resource for c in self.classes if c.resource]
        shared = sorted({r for r in resources if resources.count(r) > 1})
        if shared:
            raise ValueError(f"each Ray resource places one class, shared: {', '.join(shared)}")
        totals: dict[str, float] = defaultdict(float)
        seen: set[tuple[str, str | None]] = set()
        for sub in self.subscriptions:
            if sub.gpu_class is not None and sub.gpu_class not in names:
                raise ValueError(
                    f"subscription for show {sub.show} names unknown node class {sub.gpu_class!r}; "
                    f"known: {', '.join(sorted(names))}"
                )
            if (sub.show, sub.gpu_class) in seen:
                raise ValueError(f"show {sub.show} has two subscriptions to {sub.gpu_class or 'every class'}")
            seen.add((sub.show, sub.gpu_class))
            for name in [sub.gpu_class] if sub.gpu_class else names:
                totals[name] += sub.share
        over = sorted(n for n, t in totals.items() if t > 1 + 1e-9)
        if over:
            raise ValueError(f"guaranteed shares add up to more than 100% of node class {', '.join(over)}")
        return self

    @classmethod
    def local(cls, rates: dict[str, float] | None = None) -> FarmConfig:
        """One class per priced name, speed 1, any engine: the embedded farm's view."""
        rates = rates if rates is not None else LOCAL_RATES
        return cls(classes=tuple(NodeClass(name=n, usd_per_hour=r) for n, r in sorted(rates.items())))

    # -- lookups the policy makes ------------------------------------------------

    @cached_property
    def _by_name(self) -> dict[str, NodeClass]:
        return {c.name: c for c in self.classes}

    @cached_property
    def _subs(self) -> dict[tuple[str, str | None], Subscription]:
        return {(s.show, s.gpu_class): s for s in self.subscriptions}

    def node_class(self, name: str) -> NodeClass | None:
        return self._by_name.get(name)

    def speed(self, name: str) -> float:
        c = self._by_name.get(name)
        return c.speed if c is not None else 1.0

    def rate(self, name: str) -> float:
        c = self._by_name.get(name)
        return c.usd_per_hour if c is not None else 0.0

    def capable(self, need: Need) -> frozenset[str]:
        """Classes whose nodes can run work with this need."""
        return frozenset(c.name for c in self.classes if c.can_run(need))

    def subscription(self, show: str, gpu_class: str) -> tuple[float, float, bool]:
        """(share, burst, subscribed) of a show on a class; unsubscribed shows may burst to 100%."""
        subs = self._subs
        sub = subs.get((show, gpu_class)) or subs.get((show, None))
        if sub is None:
            return 0.0, 1.0, False
        return sub.share, sub.burst, True

    def rates(self) -> dict[str, float]:
        return {c.name: c.usd_per_hour for c in self.classes}

    def check_sequence(self, needs: dict[str, Need]) -> None:
        """Raise FarmConfigError naming every shot (name -> need) that no class can run."""
        problems = []
        for shot, need in needs.items():
            if not self.capable(need):
                reasons = "; ".join(c.why_not(need) for c in self.classes)
                problems.append(f"no node class can run shot {shot} ({need}): {reasons}")
        if problems:
            raise FarmConfigError("\n".join(problems))
