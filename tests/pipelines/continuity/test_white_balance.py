"""White balance: the average colour of one setting must not jump across a cut."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.color.cdl import CDL
from pipelines.color.temperature import kelvin_to_acescg
from pipelines.continuity.findings import Grade, Review, Severity
from pipelines.continuity.rules import RULES
from tests.pipelines.continuity.synthetic import cut_of, findings_of, frame, graded, mirrored, regraded, two_shots

RULE = RULES["white_balance"]


def cast(kelvin: float, base: float = 5600.0) -> np.ndarray:
    """The gains that turn light of `base` kelvin into light of `kelvin` (equal luminance)."""
    return (np.array(kelvin_to_acescg(kelvin)) / np.array(kelvin_to_acescg(base))).astype(np.float32)


def plates(kelvin: float):
    left = frame(1)
    return cut_of(two_shots(right_scene="other"), left, mirrored(left) * cast(kelvin))


@pytest.mark.parametrize(
    ("kelvin", "severity"),
    [
        (5600, None),
        (5750, None),  # ~5 mired: below any gaffer's correction
        (6300, Severity.WARN),  # ~20 mired
        (4900, Severity.WARN),
        (7600, Severity.ERROR),  # the 2000 K jump of the example sequence
        (3200, Severity.ERROR),
    ],
)
def test_a_colour_temperature_jump_is_judged_in_delta_uv(kelvin, severity):
    found = findings_of(plates(kelvin), "white_balance")
    assert [f.severity for f in found] == ([severity] if severity else [])


def test_the_cct_shift_points_the_right_way():
    m = RULE.measure(plates(7600))
    assert m["cct_shift"] > 1000  # bluer light: a higher correlated colour temperature
    m = RULE.measure(plates(4000))
    assert m["cct_shift"] < -800


def test_the_explanation_names_both_shots_the_delta_and_the_kelvin_shift():
    (f,) = findings_of(plates(7600), "white_balance")
    e = f.explanation
    assert "sh020's average colour is" in e and "from sh010's" in e
    assert f"{f.measured['delta_uv']:.4f} Δuv" in e and "cooler" in e and " K to " in e


@pytest.mark.parametrize("kelvin", [3200, 4500, 6500, 9000])
def test_the_grade_fix_neutralises_a_tinted_grade(kelvin):
    left = frame(1)
    cut = cut_of(two_shots(right=graded(CDL(slope=tuple(float(g) for g in cast(kelvin))))), left, frame(9))
    (f,) = findings_of(cut, "white_balance")
    assert isinstance(f.fix, Grade) and f.fix.shot == "sh020"
    fixed = regraded(cut, f.fix.cdl)
    assert RULE.measure(fixed)["grade_delta_uv"] < 0.001
    assert findings_of(fixed, "white_balance") == [] and findings_of(fixed, "exposure") == []


def test_off_the_rig_a_colour_jump_is_shown_to_a_colourist_not_graded():
    (f,) = findings_of(plates(7600), "white_balance")
    assert isinstance(f.fix, Review) and "not one rig" in f.fix.reason


def test_on_the_same_rig_framing_is_not_a_colour_jump_but_a_tinted_grade_is():
    # Two framings of one set under one light: their average colours differ by content alone.
    left, right = frame(2), frame(3)
    plain = cut_of(two_shots(), left, right)
    measured = RULE.measure(plain)
    assert measured["same_rig"] == 1.0 and measured["grade_delta_uv"] == pytest.approx(0.0, abs=1e-6)
    assert findings_of(plain, "white_balance") == []
    tinted = cut_of(two_shots(right=graded(CDL(slope=tuple(cast(7600))))), left, right)
    (f,) = findings_of(tinted, "white_balance")
    assert f.severity == Severity.ERROR and "what the grades add is judged" in f.explanation
    assert findings_of(regraded(tinted, f.fix.cdl), "white_balance") == []


def test_another_location_is_not_applicable():
    left = frame(4)
    cut = cut_of(two_shots(right={"continuity": {"location": "beach", "time_of_day": "noon"}}), left, left * cast(3200))
    assert RULE.measure(cut) is None
