"""Grade continuity: exposure, white balance, contrast and saturation across a cut.

The rules compare the two boundary frames as the master shows them (each
shot's grade applied), and only within one setting (same location and time of
day): across settings a change of light is the story, not a mistake.

Framing moves frame statistics on its own. Over 300 pairs of random framings
of the example courtyard (same set, same lights, no grades) the differences
reached, at the 99th percentile: exposure 0.26 stop, white balance 0.011 Δuv,
contrast 2.8x, saturation 1.5x. So what is judged depends on what the farm
knows about the frames:

- same rig (both shots render the same scene under lights the lighting rule
  accepts): the raw renders agree by construction but for framing, so the
  rules judge what the grades add, each side's graded statistic against its
  own raw one. Exact, and blind to framing.
- otherwise (two scenes sharing a location, frames from outside the renderer,
  lights that differ): the rules judge the graded frames against each other.

Every finding reports both numbers. The fix is one match grade for the right
shot (fit.fit_grade) that corrects every aspect found out of tolerance at once
and holds the rest; check_cut keeps one copy. Off the same rig only exposure
is graded automatically: white balance, contrast and saturation compared
frame against frame are too easily moved by framing (above) for a grade to be
trusted, so those findings ask a colourist to look (as the notes advise for
shots that are not one set-up). This module must never re-render or propose a
Requeue: what pixels cannot fix belongs to the lighting and staging rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipelines.color.temperature import acescg_to_xy, cct_from_xy
from pipelines.continuity.cut import Cut
from pipelines.continuity.findings import Grade, Review, Severity
from pipelines.continuity.fit import FrameStats, Targets, chromaticity, fit_grade
from pipelines.continuity.rules.base import at_cut, banded, setting, stops
from pipelines.continuity.rules.lighting import Lighting

# A third of a stop is the standard step of camera and meter exposure controls
# (four printer points) and is visible on a cut within one set-up; two thirds
# is unmistakable. Framing alone stayed under 0.27 stop (above).
EXPOSURE_WARN = 1 / 3
EXPOSURE_ERROR = 2 / 3
# CIE 1960 Δuv. 0.005 is about 15 mired near daylight (500 K at 5600 K, just
# under a 1/8 CTB gel) and about four MacAdam steps (~0.0012 Δuv each near
# daylight) for colours seen side by side, as a cut shows them in time.
# 0.010 is a quarter-gel cast.
BALANCE_WARN = 0.005
BALANCE_ERROR = 0.010
# log2 of a ratio of log-luminance spreads (contrast) or of chromas
# (saturation). 1.25x, as a CDL power or saturation, is plainly visible on one
# picture shown both ways, so it is the smallest mismatch worth a warning;
# 1.5x is a different look.
RATIO_WARN = math.log2(1.25)
RATIO_ERROR = math.log2(1.5)
_FLAT = 1e-3  # less spread or chroma than this is nothing to compare
_LIGHTING = Lighting()


@dataclass(frozen=True)
class _Frames:
    left: FrameStats
    right: FrameStats
    left_raw: FrameStats
    right_raw: FrameStats
    same_rig: bool


def _frames(cut: Cut) -> _Frames | None:
    if not cut.same_setting:
        return None
    got = [cut.stats("left"), cut.stats("right"), cut.stats("left", False), cut.stats("right", False)]
    if any(s is None for s in got):
        return None
    return _Frames(*got, same_rig=_same_rig(cut))  # type: ignore[arg-type]


def _same_rig(cut: Cut) -> bool:
    """Same scene and lights within the lighting rule's tolerance: raw renders agree but for framing."""
    if cut.left.shot.scene != cut.right.shot.scene:
        return False
    if cut.left.setup.lights == cut.right.setup.lights:
        return True
    measured = _LIGHTING.measure(cut)
    return measured is not None and _LIGHTING.judge(measured) is None


def _uv(stats: FrameStats) -> tuple[float, float]:
    """CIE 1960 uv of the average colour (the space CCT and Δuv are defined in)."""
    x, y = acescg_to_xy(stats.colour)
    d = 12 * y - 2 * x + 3
    return 4 * x / d, 6 * y / d


def _ratio(a: float, b: float) -> float:
    return math.log2(a / b)


def match_grade(cut: Cut) -> Grade | None:
    """The right shot's new grade: the current one corrected for every aspect out of tolerance."""

    def fit() -> Grade | None:
        f, right = _frames(cut), cut.pixels("right", graded=False)
        if f is None or right is None:
            return None
        off = {
            r.name
            for r in GRADE_RULES
            if (m := r.measure(cut)) is not None and r.judge(m) is not None and (f.same_rig or r.name == "exposure")
        }
        # A same-rig target is the right's raw frame with the left grade's effect on its own frame.
        l_gain = [a / b for a, b in zip(chromaticity(f.left.colour), chromaticity(f.left_raw.colour))]
        rig_colour = tuple(c * g for c, g in zip(chromaticity(f.right_raw.colour), l_gain))
        targets = Targets(
            key=math.log2(_target(f, "exposure" in off, lambda s: 2.0**s.key)),
            spread=_target(f, "contrast" in off, lambda s: s.spread),
            colour=(rig_colour if f.same_rig else f.left.colour) if "white_balance" in off else f.right.colour,
            chroma=_target(f, "saturation" in off, lambda s: s.chroma),
        )
        cdl = fit_grade(right, targets, start=cut.right.shot.grade)
        return Grade(shot=cut.right.shot.name, cdl=cdl)

    return cut.cached("match_grade", fit)


def _target(f: _Frames, move: bool, stat) -> float:  # type: ignore[no-untyped-def]
    if not move:
        return stat(f.right)
    if f.same_rig:
        return stat(f.right_raw) * stat(f.left) / stat(f.left_raw)
    return stat(f.left)


class _GradeRule:
    uses_pixels = True
    name = ""

    def fix(self, cut: Cut, measured: dict[str, float]) -> Grade | Review | None:
        if measured["same_rig"] or self.name == "exposure":
            return match_grade(cut)
        return Review(
            reason=f"{cut.left.shot.name} and {cut.right.shot.name} are not one rig, and framing alone moves "
            f"whole-frame {self.name.replace('_', ' ')} this much; compare the shots by eye and grade "
            f"{cut.right.shot.name} if it is wrong."
        )


def _basis(cut: Cut, measured: dict[str, float]) -> str:
    """How the judged number was arrived at, ending where the number goes."""
    if measured["same_rig"]:
        return (
            "both shots render the same set under the same lights, so framing explains the frames' "
            "difference and what the grades add is judged"
        )
    return f"they are not one rig, so the frames are judged against each other within one setting ({setting(cut)})"


class Exposure(_GradeRule):
    name = "exposure"
    threshold = EXPOSURE_WARN

    def measure(self, cut: Cut) -> dict[str, float] | None:
        f = _frames(cut)
        if f is None:
            return None
        return {
            "stops": f.right.key - f.left.key,
            "grade_stops": (f.right.key - f.right_raw.key) - (f.left.key - f.left_raw.key),
            "left_key": f.left.key,
            "right_key": f.right.key,
            "same_rig": float(f.same_rig),
        }

    def judge(self, measured: dict[str, float]) -> Severity | None:
        return banded(abs(_judged(measured, "stops")), EXPOSURE_WARN, EXPOSURE_ERROR)

    def explain(self, cut: Cut, measured: dict[str, float]) -> str:
        d = measured["stops"]
        return (
            f"{cut.right.shot.name} is {stops(d)} {'brighter' if d > 0 else 'darker'} than "
            f"{cut.left.shot.name} at the cut from {at_cut(cut)} (log-average luminance "
            f"2^{measured['left_key']:.2f} against 2^{measured['right_key']:.2f}); {_basis(cut, measured)}: "
            f"{stops(_judged(measured, 'stops'))} against a tolerance of {stops(EXPOSURE_WARN)}, the step at which "
            f"a cut reads as the light changing."
        )


def _judged(measured: dict[str, float], key: str) -> float:
    """The number a rule judges: what the grades add on the same rig, the frames' difference otherwise."""
    return measured[f"grade_{key}" if measured["same_rig"] else key]


class WhiteBalance(_GradeRule):
    name = "white_balance"
    threshold = BALANCE_WARN

    def measure(self, cut: Cut) -> dict[str, float] | None:
        f = _frames(cut)
        if f is None:
            return None
        (lu, lv), (ru, rv), (lu0, lv0), (ru0, rv0) = map(_uv, (f.left, f.right, f.left_raw, f.right_raw))
        left_k, right_k = (cct_from_xy(*acescg_to_xy(s.colour)) for s in (f.left, f.right))
        return {
            "delta_uv": math.hypot(ru - lu, rv - lv),
            "grade_delta_uv": math.hypot((ru - ru0) - (lu - lu0), (rv - rv0) - (lv - lv0)),
            "left_cct": left_k,
            "right_cct": right_k,
            "cct_shift": right_k - left_k,
            "same_rig": float(f.same_rig),
        }

    def judge(self, measured: dict[str, float]) -> Severity | None:
        return banded(_judged(measured, "delta_uv"), BALANCE_WARN, BALANCE_ERROR)

    def explain(self, cut: Cut, measured: dict[str, float]) -> str:
        shift, judged = measured["cct_shift"], _judged(measured, "delta_uv")
        return (
            f"{cut.right.shot.name}'s average colour is {measured['delta_uv']:.4f} Δuv (CIE 1960) away from "
            f"{cut.left.shot.name}'s at the cut from {at_cut(cut)}, about {abs(shift):.0f} K "
            f"{'cooler' if shift > 0 else 'warmer'} by McCamy's CCT ({measured['left_cct']:.0f} K to "
            f"{measured['right_cct']:.0f} K); {_basis(cut, measured)}: {judged:.4f} Δuv against a "
            f"tolerance of {BALANCE_WARN} Δuv."
        )


class _RatioRule(_GradeRule):
    threshold = RATIO_WARN
    noun = ""

    def stat(self, s: FrameStats) -> float:
        raise NotImplementedError

    def measure(self, cut: Cut) -> dict[str, float] | None:
        f = _frames(cut)
        if f is None or min(self.stat(s) for s in (f.left, f.right, f.left_raw, f.right_raw)) < _FLAT:
            return None
        s = self.stat
        return {
            "log2_ratio": _ratio(s(f.right), s(f.left)),
            "grade_log2_ratio": _ratio(s(f.right), s(f.right_raw)) - _ratio(s(f.left), s(f.left_raw)),
            f"left_{self.noun}": s(f.left),
            f"right_{self.noun}": s(f.right),
            "same_rig": float(f.same_rig),
        }

    def judge(self, measured: dict[str, float]) -> Severity | None:
        return banded(abs(_judged(measured, "log2_ratio")), RATIO_WARN, RATIO_ERROR)

    def explain(self, cut: Cut, measured: dict[str, float]) -> str:
        judged = 2 ** _judged(measured, "log2_ratio")
        return (
            f"{cut.right.shot.name} has {2 ** measured['log2_ratio']:.2f}x the {self.name} of "
            f"{cut.left.shot.name} at the cut from {at_cut(cut)} ({self.noun} "
            f"{measured[f'right_{self.noun}']:.3f} against {measured[f'left_{self.noun}']:.3f}); "
            f"{_basis(cut, measured)}: {judged:.2f}x, beyond the {2**RATIO_WARN:.2f}x either way at which "
            f"it looks like a different grade."
        )


class Contrast(_RatioRule):
    name = "contrast"
    noun = "spread"  # std of log2 luminance, stops

    def stat(self, s: FrameStats) -> float:
        return s.spread


class Saturation(_RatioRule):
    name = "saturation"
    noun = "chroma"  # grey-world relative chroma

    def stat(self, s: FrameStats) -> float:
        return s.chroma


GRADE_RULES = (Exposure(), WhiteBalance(), Contrast(), Saturation())
