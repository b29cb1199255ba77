"""Grade continuity: exposure, white balance, contrast and saturation across a cut.

These rules compare the two boundary frames as the master will show them (each
shot's grade applied) and only within one setting (same location and time of
day): across settings a difference in light is the story, not a mistake.

All four propose the same fix, a match grade for the right shot fitted by
`fit.fit_match` that corrects every aspect found out of tolerance at once, so
that applying it can never fix one aspect and break another; check_cut keeps
one copy. The thresholds are on the frame statistics of pipelines.continuity
.fit; the comment on each says why that value.

This module must never re-render or propose a Requeue: whatever pixels cannot
fix belongs to the lighting and staging rules.
"""

from __future__ import annotations

import math

from pipelines.color.temperature import acescg_to_xy, cct_from_xy
from pipelines.continuity.cut import Cut
from pipelines.continuity.findings import Grade, Severity
from pipelines.continuity.fit import FrameStats, Match, fit_match
from pipelines.continuity.rules.base import at_cut, banded, setting, stops

# A third of a stop is the finest step printer lights and most exposure
# controls offer (1/3 stop); a colourist sees it on a cut within one lighting
# set-up. Two thirds is unmistakable to anyone.
EXPOSURE_WARN = 1 / 3
EXPOSURE_ERROR = 2 / 3
# CIE 1960 uv distance. 0.005 is about 15 mired near daylight (500 K at
# 5600 K, an eighth-CTB gel) and 3-4 just-noticeable differences for
# side-by-side colours; a cut shows them side by side in time. 0.010 is a
# quarter-gel correction a viewer notices without looking for it.
BALANCE_WARN = 0.005
BALANCE_ERROR = 0.010
# log2 of the ratio of log-luminance spreads (contrast) and of chromas
# (saturation). 1.25x is the smallest change of either that graders report
# seeing across a cut between different framings, whose content alone moves
# these statistics by 10-15%; 1.5x is a different look.
RATIO_WARN = math.log2(1.25)
RATIO_ERROR = math.log2(1.5)
_FLAT = 1e-3  # a frame with less spread or chroma than this has no contrast/saturation to compare


def _pair(cut: Cut) -> tuple[FrameStats, FrameStats] | None:
    if not cut.same_setting:
        return None
    left, right = cut.stats("left"), cut.stats("right")
    return (left, right) if left is not None and right is not None else None


def match_grade(cut: Cut) -> Grade | None:
    """The right shot's new grade: the current one corrected for every aspect out of tolerance."""

    def fit() -> Grade | None:
        left, right = cut.pixels("left"), cut.pixels("right", graded=False)
        if left is None or right is None:
            return None
        judged = {r.name: (m := r.measure(cut)) is not None and r.judge(m) is not None for r in GRADE_RULES}
        match = Match(
            exposure=judged["exposure"],
            balance=judged["white_balance"],
            contrast=judged["contrast"],
            saturation=judged["saturation"],
        )
        cdl = fit_match(left, right, start=cut.right.shot.grade, match=match)
        return Grade(shot=cut.right.shot.name, cdl=cdl)

    return cut.cached("match_grade", fit)


class _GradeRule:
    uses_pixels = True

    def fix(self, cut: Cut, measured: dict[str, float]) -> Grade | None:
        return match_grade(cut)


class Exposure(_GradeRule):
    name = "exposure"
    threshold = EXPOSURE_WARN

    def measure(self, cut: Cut) -> dict[str, float] | None:
        pair = _pair(cut)
        if pair is None:
            return None
        left, right = pair
        return {"stops": right.key - left.key, "left_key": left.key, "right_key": right.key}

    def judge(self, measured: dict[str, float]) -> Severity | None:
        return banded(abs(measured["stops"]), EXPOSURE_WARN, EXPOSURE_ERROR)

    def explain(self, cut: Cut, measured: dict[str, float]) -> str:
        d = measured["stops"]
        return (
            f"{cut.right.shot.name} is {stops(d)} {'brighter' if d > 0 else 'darker'} than "
            f"{cut.left.shot.name} across the cut from {at_cut(cut)} (log-average luminance "
            f"2^{measured['left_key']:.2f} against 2^{measured['right_key']:.2f}). Within one setting "
            f"({setting(cut)}) a jump of {stops(EXPOSURE_WARN)} or more reads as the light changing."
        )


class WhiteBalance(_GradeRule):
    name = "white_balance"
    threshold = BALANCE_WARN

    def measure(self, cut: Cut) -> dict[str, float] | None:
        pair = _pair(cut)
        if pair is None:
            return None
        (lu, lv), (ru, rv) = (_uv(*acescg_to_xy(s.colour)) for s in pair)
        left_k, right_k = (cct_from_xy(*acescg_to_xy(s.colour)) for s in pair)
        return {
            "delta_uv": math.hypot(ru - lu, rv - lv),
            "left_cct": left_k,
            "right_cct": right_k,
            "cct_shift": right_k - left_k,
        }

    def judge(self, measured: dict[str, float]) -> Severity | None:
        return banded(measured["delta_uv"], BALANCE_WARN, BALANCE_ERROR)

    def explain(self, cut: Cut, measured: dict[str, float]) -> str:
        shift = measured["cct_shift"]
        return (
            f"{cut.right.shot.name}'s average colour is {measured['delta_uv']:.4f} Δuv (CIE 1960) away "
            f"from {cut.left.shot.name}'s across the cut from {at_cut(cut)}: about {abs(shift):.0f} K "
            f"{'cooler' if shift > 0 else 'warmer'} ({measured['left_cct']:.0f} K to "
            f"{measured['right_cct']:.0f} K, McCamy). Within one setting ({setting(cut)}) a shift of "
            f"{BALANCE_WARN} Δuv or more shows as the white balance jumping."
        )


class Contrast(_GradeRule):
    name = "contrast"
    threshold = RATIO_WARN

    def measure(self, cut: Cut) -> dict[str, float] | None:
        pair = _pair(cut)
        if pair is None or min(pair[0].spread, pair[1].spread) < _FLAT:
            return None
        left, right = pair
        return {
            "log2_ratio": math.log2(right.spread / left.spread),
            "left_spread": left.spread,
            "right_spread": right.spread,
        }

    def judge(self, measured: dict[str, float]) -> Severity | None:
        return banded(abs(measured["log2_ratio"]), RATIO_WARN, RATIO_ERROR)

    def explain(self, cut: Cut, measured: dict[str, float]) -> str:
        ratio = 2 ** measured["log2_ratio"]
        return (
            f"{cut.right.shot.name} has {ratio:.2f}x the contrast of {cut.left.shot.name} across the cut "
            f"from {at_cut(cut)} (log-luminance spread {measured['right_spread']:.2f} against "
            f"{measured['left_spread']:.2f} stops). Within one setting ({setting(cut)}) a ratio beyond "
            f"{2**RATIO_WARN:.2f}x either way looks like a different grade."
        )


class Saturation(_GradeRule):
    name = "saturation"
    threshold = RATIO_WARN

    def measure(self, cut: Cut) -> dict[str, float] | None:
        pair = _pair(cut)
        if pair is None or min(pair[0].chroma, pair[1].chroma) < _FLAT:
            return None
        left, right = pair
        return {
            "log2_ratio": math.log2(right.chroma / left.chroma),
            "left_chroma": left.chroma,
            "right_chroma": right.chroma,
        }

    def judge(self, measured: dict[str, float]) -> Severity | None:
        return banded(abs(measured["log2_ratio"]), RATIO_WARN, RATIO_ERROR)

    def explain(self, cut: Cut, measured: dict[str, float]) -> str:
        ratio = 2 ** measured["log2_ratio"]
        return (
            f"{cut.right.shot.name} is {ratio:.2f}x as saturated as {cut.left.shot.name} across the cut "
            f"from {at_cut(cut)} (relative chroma {measured['right_chroma']:.3f} against "
            f"{measured['left_chroma']:.3f}). Within one setting ({setting(cut)}) a ratio beyond "
            f"{2**RATIO_WARN:.2f}x either way looks like a different grade."
        )


def _uv(x: float, y: float) -> tuple[float, float]:
    """CIE 1931 xy -> CIE 1960 uv (the space CCT and Δuv are defined in)."""
    d = 12 * y - 2 * x + 3
    return 4 * x / d, 6 * y / d


GRADE_RULES = (Exposure(), WhiteBalance(), Contrast(), Saturation())
