"""Lighting continuity: the shots of one setting must be lit by the same lights.

A white-balance or exposure jump caused by a light that changed between shots
is fixed where it was made, by re-rendering the right shot with the left
shot's lights, not by grading over it (a grade cannot move a shadow or a
highlight's colour against the fill). check_cut withholds the grade rules'
fixes on a cut that re-renders its right shot, because they were fitted on
pixels that are about to be replaced.

Lights are paired by kind and order (first sun with first sun, and so on).
Colour is compared in mired (1e6 / kelvin) because equal mired steps look
equally large at any temperature, which kelvin steps do not.

This module must never look at pixels: it reads the resolved ShotSetups.
"""

from __future__ import annotations

import math

from pipelines.continuity.cut import Cut
from pipelines.continuity.findings import Requeue, Severity
from pipelines.continuity.rules.base import banded, setting, stops
from pipelines.spec.scene import Area, Light, Sky, Sun

# 15 mired is about 500 K at 5600 K (14.6), and a little under the smallest
# correction gel (1/8 CTO or CTB, about 20 mired): less than anyone would rig
# on purpose. 30 mired is past that gel: a different light.
MIRED_WARN = 15.0
MIRED_ERROR = 30.0
# Same reasoning as the exposure rule: 1/3 stop is the smallest deliberate step.
INTENSITY_WARN = 1 / 3
INTENSITY_ERROR = 2 / 3
# A light switched off on one side compares as this many stops.
_OFF_STOPS = 10.0

_KINDS: tuple[type, ...] = (Sun, Sky, Area)


def _label(kind: type, index: int, count: int) -> str:
    word = {Sun: "sun", Sky: "sky", Area: "area light"}[kind]
    return f"the {word}" if count == 1 else f"{word} {index + 1}"


def _pairs(left: tuple[Light, ...], right: tuple[Light, ...]) -> list[tuple[str, Light, Light]]:
    out = []
    for kind in _KINDS:
        a = [x for x in left if isinstance(x, kind)]
        b = [x for x in right if isinstance(x, kind)]
        n = min(len(a), len(b))
        out += [(_label(kind, i, n), a[i], b[i]) for i in range(n)]
    return out


def _intensity_stops(a: float, b: float) -> float:
    if a == b:
        return 0.0
    if a <= 0 or b <= 0:
        return _OFF_STOPS if b > a else -_OFF_STOPS
    return math.log2(b / a)


def _differences(cut: Cut) -> list[tuple[str, Light, Light, float, float]]:
    """(label, left light, right light, mired shift, intensity stops) for every paired light."""
    out = []
    for label, a, b in _pairs(cut.left.setup.lights, cut.right.setup.lights):
        mired = 0.0 if isinstance(a, Sky) else 1e6 / b.kelvin - 1e6 / a.kelvin  # type: ignore[union-attr]
        out.append((label, a, b, mired, _intensity_stops(a.intensity, b.intensity)))
    return out


class Lighting:
    name = "lighting"
    threshold = MIRED_WARN
    uses_pixels = False

    def measure(self, cut: Cut) -> dict[str, float] | None:
        if not cut.same_setting:
            return None
        diffs = _differences(cut)
        if not diffs:
            return None
        worst_colour = max(diffs, key=lambda d: abs(d[3]))
        worst_level = max(diffs, key=lambda d: abs(d[4]))
        kelvin = 0.0
        if not isinstance(worst_colour[1], Sky):
            kelvin = worst_colour[2].kelvin - worst_colour[1].kelvin  # type: ignore[union-attr]
        return {
            "mired_shift": worst_colour[3],
            "kelvin_shift": kelvin,
            "intensity_stops": worst_level[4],
            "lights_compared": float(len(diffs)),
        }

    def judge(self, measured: dict[str, float]) -> Severity | None:
        colour = banded(abs(measured["mired_shift"]), MIRED_WARN, MIRED_ERROR)
        level = banded(abs(measured["intensity_stops"]), INTENSITY_WARN, INTENSITY_ERROR)
        found = [s for s in (colour, level) if s is not None]
        return max(found, key=lambda s: s.rank) if found else None

    def fix(self, cut: Cut, measured: dict[str, float]) -> Requeue:
        lights = cut.left.shot.lights
        # null removes the right shot's override, so it takes the scene's lights like the left shot.
        value = None if lights is None else [light.model_dump(mode="json") for light in lights]
        return Requeue(shot=cut.right.shot.name, patch={"lights": value})

    def explain(self, cut: Cut, measured: dict[str, float]) -> str:
        left, right = cut.left.shot.name, cut.right.shot.name
        changes = []
        for label, a, b, mired, level in _differences(cut):
            parts = []
            if abs(level) >= INTENSITY_WARN:
                parts.append(
                    f"{2**level:.2f}x as bright ({stops(level)} {'up' if level > 0 else 'down'}, "
                    f"intensity {a.intensity:g} to {b.intensity:g})"
                )
            if abs(mired) >= MIRED_WARN:
                parts.append(
                    f"{abs(b.kelvin - a.kelvin):.0f} K {'warmer' if mired > 0 else 'cooler'} "  # type: ignore[union-attr]
                    f"({a.kelvin:.0f} K to {b.kelvin:.0f} K, {abs(mired):.0f} mired)"  # type: ignore[union-attr]
                )
            if parts:
                changes.append(f"{label} is {' and '.join(parts)}")
        return (
            f"{right} is lit differently from {left} although both are in one setting ({setting(cut)}): "
            f"in {right}, {'; '.join(changes)}. Lights within a setting must agree to "
            f"{MIRED_WARN:.0f} mired and {stops(INTENSITY_WARN)}; re-rendering {right} with {left}'s lights "
            f"fixes the cut at its source."
        )
