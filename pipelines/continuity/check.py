"""Checking a cut: run every rule, record what they find, never raise.

Before the rules, the frames themselves are checked: a side with no pixels
gives an error finding "frames", a side with NaN or infinite pixels an error
finding "pixels" with the counts; rules that read pixels then skip that side's
frame (their measure returns None) while the spec-only rules still run. A rule
that raises becomes an error finding of its own instead of taking the farm's
check actor down.

This module must never read files or apply fixes: it returns findings; the
farm applies them.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipelines.continuity.cut import Cut, CutSide
from pipelines.continuity.findings import Finding, Review, Severity
from pipelines.continuity.resolve import one_fix_per_cause
from pipelines.continuity.rules import RULES, Rule

# Rule names of findings that say the cut could not be checked at all.
FRAMES, PIXELS = "frames", "pixels"


def check_cut(cut: Cut, rules: Mapping[str, Rule] = RULES) -> list[Finding]:
    """Every finding on the cut, errors first, each proposing at most one non-overlapping fix."""
    findings = [f for side in ("left", "right") for f in _frame_problems(cut, side)]  # type: ignore[arg-type]
    for rule in rules.values():
        try:
            finding = _run(rule, cut)
        except Exception as e:  # a broken rule is a finding, not a crash: the other rules still count
            finding = _crashed(rule, cut, e)
        if finding is not None:
            findings.append(finding)
    findings = one_fix_per_cause(cut, findings, rules)
    return sorted(findings, key=lambda f: -f.severity.rank)


def _run(rule: Rule, cut: Cut) -> Finding | None:
    measured = rule.measure(cut)
    if measured is None:
        return None
    severity = rule.judge(measured)
    if severity is None:
        return None
    return Finding(
        rule=rule.name,
        cut=cut.name,
        left=cut.left.shot.name,
        right=cut.right.shot.name,
        measured=measured,
        threshold=rule.threshold,
        severity=severity,
        explanation=rule.explain(cut, measured),
        fix=rule.fix(cut, measured),
    )


def _base(cut: Cut, rule: str, measured: dict[str, float], explanation: str, reason: str) -> Finding:
    return Finding(
        rule=rule,
        cut=cut.name,
        left=cut.left.shot.name,
        right=cut.right.shot.name,
        measured=measured,
        threshold=1.0,
        severity=Severity.ERROR,
        explanation=explanation,
        fix=Review(reason=reason),
    )


def _frame_problems(cut: Cut, which: str) -> list[Finding]:
    side: CutSide = cut.left if which == "left" else cut.right
    name, frame = side.shot.name, side.frame
    px = side.pixels
    if px is None:
        return [
            _base(
                cut, FRAMES, {"frame": float(frame), "missing": 1.0},
                f"{name}'s boundary frame {frame} is missing or unreadable, so the cut from "
                f"{cut.left.shot.name} to {cut.right.shot.name} cannot be judged on pictures; only the "
                f"spec-based rules ran.",
                f"Re-deliver or re-render {name} frame {frame}.",
            )
        ]
    if px.ndim != 3 or px.shape[-1] != 3 or px.size == 0:
        return [
            _base(
                cut, FRAMES, {"frame": float(frame), "missing": 0.0, "dimensions": float(px.ndim)},
                f"{name}'s boundary frame {frame} has shape {tuple(px.shape)}, not (height, width, 3), so "
                f"the cut from {cut.left.shot.name} to {cut.right.shot.name} cannot be judged on pictures.",
                f"Re-deliver {name} frame {frame} as RGB.",
            )
        ]
    nan, inf = side.nonfinite()
    if nan or inf:
        share = (nan + inf) / px.size
        return [
            _base(
                cut, PIXELS, {"frame": float(frame), "nan": float(nan), "inf": float(inf), "share": share},
                f"{name}'s boundary frame {frame} has {nan} NaN and {inf} infinite values "
                f"({share:.2%} of its samples), so the cut from {cut.left.shot.name} to "
                f"{cut.right.shot.name} cannot be judged on pictures.",
                f"Find why {name} renders non-finite pixels (a light or material producing NaN) and re-render.",
            )
        ]
    return []


def _crashed(rule: Rule, cut: Cut, error: Exception) -> Finding:
    return _base(
        cut, rule.name, {"crashed": 1.0},
        f"The {rule.name} rule could not check the cut from {cut.left.shot.name} to {cut.right.shot.name}: "
        f"{type(error).__name__}: {error}.",
        f"The {rule.name} rule failed on this cut; check it by eye and report the error.",
    )
