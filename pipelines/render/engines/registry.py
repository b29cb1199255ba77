"""Installed engines, found by name in the `shotfarm.engines` entry-point group.

Any installed package can add an engine: its pyproject.toml names an
`EngineInfo` under `[project.entry-points."shotfarm.engines"]`, and the farm
finds it here. Declarations are read once per process (installing a package
needs a new process anyway).

An engine whose module fails to import, or whose entry point names something
that is not an EngineInfo, is listed as unusable with the reason: one broken
plug-in must never stop the farm from listing or running the others.

This module must never import an engine's runtime itself: only the modules
the entry points name, which keep their heavy imports for `build` and `load`.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Iterable
from dataclasses import dataclass

from pipelines.render.engines.base import ENTRY_POINT_GROUP, Engine, EngineContext, EngineInfo


class EngineUnavailable(RuntimeError):
    """A declared engine that cannot be built on this machine: another node may have what it lacks."""


@dataclass(frozen=True)
class Declared:
    """One entry point of the group: the engine it declares, or why it could not be read."""

    name: str
    target: str
    """The entry point's `module:attribute`."""
    info: EngineInfo | None
    error: str | None = None

    def why_unusable(self) -> str | None:
        """None when the engine can render on this machine, else why not."""
        if self.info is None:
            return self.error
        return self.info.why_unusable()


def declared(points: Iterable[importlib.metadata.EntryPoint]) -> tuple[Declared, ...]:
    """Read each entry point, sorted by name; a failure is recorded on its engine, never raised.

    When two packages declare the same name, the first in import order (the
    one earlier on sys.path, as Python would import it) wins and the other is
    listed as a conflict.
    """
    out: dict[str, Declared] = {}
    for point in points:
        if point.name in out:
            out[f"{point.name} ({point.value})"] = Declared(point.name, point.value, None, f"another package already declares {point.name!r}")
            continue
        out[point.name] = _read(point)
    return tuple(sorted(out.values(), key=lambda d: d.name))  # stable: a conflict stays after its winner


def _read(point: importlib.metadata.EntryPoint) -> Declared:
    try:
        info = point.load()
    except Exception as e:  # an engine's import can fail any way at all; its listing says how
        return Declared(point.name, point.value, None, f"cannot be imported: {type(e).__name__}: {e}")
    if not isinstance(info, EngineInfo):
        return Declared(point.name, point.value, None, f"names a {type(info).__name__}, not an EngineInfo")
    if info.name != point.name:
        return Declared(point.name, point.value, None, f"its EngineInfo is named {info.name!r}, not {point.name!r}")
    return Declared(point.name, point.value, info)


@functools.cache
def available() -> tuple[Declared, ...]:
    """Every engine installed in this environment, usable or not, sorted by name."""
    return declared(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def names() -> tuple[str, ...]:
    return tuple(dict.fromkeys(d.name for d in available()))


def info(name: str) -> EngineInfo:
    """The declaration of the engine called `name`.

    Raises KeyError (naming the installed engines) for a name nothing
    declares, and EngineUnavailable for one whose declaration cannot be read.
    """
    found: dict[str, Declared] = {}
    for d in available():
        found.setdefault(d.name, d)  # a conflicting declaration is listed after the one that wins
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise KeyError(f"unknown engine {name!r}; installed engines: {known}")
    entry = found[name]
    if entry.info is None:
        raise EngineUnavailable(f"engine {name!r} ({entry.target}) {entry.error}")
    return entry.info


def build(name: str, context: EngineContext) -> Engine:
    """A new, unloaded engine; EngineUnavailable when it cannot run on this machine."""
    engine_info = info(name)
    why = engine_info.why_unusable()
    if why is not None:
        raise EngineUnavailable(f"engine {name!r} cannot run here: {why}")
    return engine_info.build(context)
