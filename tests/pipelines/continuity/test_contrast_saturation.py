"""Contrast and saturation: the spread of log luminance and the chroma must match within one setting."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.color.cdl import CDL
from pipelines.continuity.check import check_cut
from pipelines.continuity.findings import Grade, Review, Severity
from pipelines.continuity.rules import RULES
from pipelines.continuity.rules.grade import RATIO_WARN
from tests.pipelines.continuity.synthetic import cut_of, findings_of, frame, graded, mirrored, regraded, two_shots


def contrasty(px: np.ndarray, power: float) -> np.ndarray:
    """More (power > 1) or less contrast, pivoting on the frame's key so exposure stays put."""
    y = px @ np.array([0.2722, 0.6741, 0.0537], np.float32)
    key = np.float32(np.exp2(np.log2(y).mean()))
    return (key * (px / key) ** np.float32(power)).astype(np.float32)


def plates(right: np.ndarray, left: np.ndarray):
    return cut_of(two_shots(right_scene="other"), left, right)


@pytest.mark.parametrize(
    ("power", "severity"),
    [(1.0, None), (1.15, None), (1.3, Severity.WARN), (0.78, Severity.WARN), (1.6, Severity.ERROR), (0.6, Severity.ERROR)],
)
def test_contrast_is_judged_on_the_ratio_of_log_spreads(power, severity):
    left = frame(1)
    found = findings_of(plates(contrasty(mirrored(left), power), left), "contrast")
    assert [f.severity for f in found] == ([severity] if severity else [])
    if found:
        assert 2 ** found[0].measured["log2_ratio"] == pytest.approx(power, rel=0.03)
        assert found[0].threshold == pytest.approx(RATIO_WARN)


@pytest.mark.parametrize(
    ("saturation", "severity"),
    [(1.0, None), (1.15, None), (1.32, Severity.WARN), (0.77, Severity.WARN), (1.7, Severity.ERROR), (0.5, Severity.ERROR)],
)
def test_saturation_is_judged_on_the_ratio_of_chromas(saturation, severity):
    left = frame(2)
    found = findings_of(plates(CDL(saturation=saturation).apply(mirrored(left)), left), "saturation")
    assert [f.severity for f in found] == ([severity] if severity else [])


@pytest.mark.parametrize("rule", ["contrast", "saturation"])
def test_the_explanation_names_both_shots_and_the_ratio(rule):
    left = frame(3)
    right = contrasty(mirrored(left), 1.8) if rule == "contrast" else CDL(saturation=1.8).apply(mirrored(left))
    (f,) = findings_of(plates(right, left), rule)
    ratio = 2 ** f.measured["log2_ratio"]
    assert f"sh020 has {ratio:.2f}x the {rule} of sh010" in f.explanation
    assert "frame 1024" in f.explanation and "1.25x" in f.explanation


@pytest.mark.parametrize(("power", "saturation"), [(1.6, 1.0), (0.7, 1.0), (1.0, 1.7), (1.0, 0.6), (1.5, 0.55)])
def test_one_grade_fix_restores_every_aspect_found_out_of_tolerance(power, saturation):
    left = frame(4)
    wrong = CDL(power=(power,) * 3, saturation=saturation)
    cut = cut_of(two_shots(right=graded(wrong)), left, frame(8))
    found = check_cut(cut)
    flagged = {f.rule for f in found}
    grades = [f.fix for f in found if isinstance(f.fix, Grade)]
    assert len(grades) == 1  # one grade carries every aspect
    fixed = regraded(cut, grades[0].cdl)
    assert [f for f in check_cut(fixed) if f.severity != Severity.INFO] == []
    for rule in flagged & {"contrast", "saturation"}:
        assert abs(RULES[rule].measure(fixed)["grade_log2_ratio"]) < 0.02, rule


@pytest.mark.parametrize("rule", ["contrast", "saturation"])
def test_off_the_rig_a_contrast_or_saturation_jump_is_shown_to_a_colourist_not_graded(rule):
    left = frame(5)
    right = contrasty(mirrored(left), 1.8) if rule == "contrast" else CDL(saturation=1.8).apply(mirrored(left))
    (f,) = findings_of(plates(right, left), rule)
    assert isinstance(f.fix, Review) and "framing alone moves" in f.fix.reason


def test_on_the_same_rig_a_framing_with_twice_the_contrast_is_not_a_finding():
    left = frame(5)
    wide_open = contrasty(mirrored(left), 2.0)  # stands for a framing with deeper shadows
    cut = cut_of(two_shots(), left, wide_open)
    m = RULES["contrast"].measure(cut)
    assert m["log2_ratio"] == pytest.approx(1.0, abs=0.05) and m["grade_log2_ratio"] == pytest.approx(0.0, abs=1e-6)
    assert findings_of(cut, "contrast") == []


@pytest.mark.parametrize(("rule", "grade"), [("contrast", CDL(power=(1.45, 1.45, 1.45))), ("saturation", CDL(saturation=1.6))])
def test_on_the_same_rig_a_grade_difference_is_a_finding_and_its_fix_removes_it(rule, grade):
    left = frame(6)
    cut = cut_of(two_shots(right=graded(grade)), left, frame(7))
    (f,) = findings_of(cut, rule)
    assert f.measured["same_rig"] == 1.0
    judged = f.measured["grade_log2_ratio"]
    expected = math.log2(1.45) if rule == "contrast" else math.log2(1.6)
    assert judged == pytest.approx(expected, rel=0.08)
    grade_fix = next(x.fix for x in findings_of(cut, "exposure") + [f] if isinstance(x.fix, Grade))
    assert findings_of(regraded(cut, grade_fix.cdl), rule) == []


def test_flat_frames_have_nothing_to_compare():
    flat = np.full((20, 30, 3), 0.18, np.float32)
    assert RULES["contrast"].measure(plates(flat, flat)) is None
    assert RULES["saturation"].measure(plates(flat, flat)) is None
