"""The shape every continuity rule has, and the small wording helpers they share.

A rule is measure -> judge -> fix, plus explain. `measure` returns None when
the rule does not apply to the cut (another location, no subject, no frames);
`judge` turns the numbers into a severity or None (within tolerance); `fix`
proposes one fix for the right-hand shot; `explain` is one paragraph that
names both shots and the numbers. Rules must never raise on odd input they can
recognise, and must never mutate the cut.
"""

from __future__ import annotations

from typing import Protocol

from pipelines.continuity.cut import Cut
from pipelines.continuity.findings import Fix, Severity


class Rule(Protocol):
    name: str
    threshold: float
    """The warn threshold, in the unit of the quantity `judge` compares."""
    uses_pixels: bool
    """Whether `measure` reads frames (its findings go stale when a shot is re-rendered)."""

    def measure(self, cut: Cut) -> dict[str, float] | None: ...

    def judge(self, measured: dict[str, float]) -> Severity | None: ...

    def fix(self, cut: Cut, measured: dict[str, float]) -> Fix | None: ...

    def explain(self, cut: Cut, measured: dict[str, float]) -> str: ...


def banded(value: float, warn: float, error: float) -> Severity | None:
    """Severity of a magnitude against a warn and an error threshold (inclusive)."""
    if value >= error:
        return Severity.ERROR
    if value >= warn:
        return Severity.WARN
    return None


def at_cut(cut: Cut) -> str:
    """'sh010 (frame 1024) to sh020 (frame 1025)'."""
    return f"{cut.left.shot.name} (frame {cut.left.frame}) to {cut.right.shot.name} (frame {cut.right.frame})"


def setting(cut: Cut) -> str:
    """The shared location and time of day in words, for 'within one setting' sentences."""
    c = cut.left.shot.continuity
    parts = [p for p in (c.location, c.time_of_day) if p]
    return ", ".join(parts) if parts else f"scene {cut.left.shot.scene}"


def stops(v: float) -> str:
    v = abs(v)
    return f"{v:.2f} stop" if v == 1 or v < 1 else f"{v:.2f} stops"
