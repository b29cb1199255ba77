"""check_cut: every rule on a cut, frames checked first, one fix per cause, never an exception."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.color.cdl import CDL
from pipelines.continuity.check import check_cut
from pipelines.continuity.findings import Grade, Review, Severity
from pipelines.continuity.rules import RULES
from tests.pipelines.continuity.synthetic import SKY, SUN, cut_of, frame, mirrored, two_shots


def rules_of(findings) -> list[str]:
    return [f.rule for f in findings]


def test_a_clean_cut_has_no_findings():
    left = frame(1)
    assert check_cut(cut_of(two_shots(), left, mirrored(left))) == []


@pytest.mark.parametrize("missing", ["left", "right", "both"])
def test_a_missing_frame_is_an_error_per_side_and_the_spec_rules_still_run(missing):
    px = frame(2)
    left = None if missing in ("left", "both") else px
    right = None if missing in ("right", "both") else mirrored(px) * np.float32(4.0)
    seq = two_shots(right={"lights": [SUN | {"kelvin": 3200}, SKY]})
    found = check_cut(cut_of(seq, left, right))
    frames = [f for f in found if f.rule == "frames"]
    assert len(frames) == (2 if missing == "both" else 1)
    assert all(f.severity == Severity.ERROR and isinstance(f.fix, Review) for f in frames)
    side = "sh010" if missing != "right" else "sh020"
    assert f"{side}'s boundary frame" in frames[0].explanation and "missing or unreadable" in frames[0].explanation
    assert "lighting" in rules_of(found)  # judged on the specs, frames or not
    assert "exposure" not in rules_of(found)  # cannot be judged without both pictures


def test_nan_and_inf_pixels_are_counted_and_stop_the_picture_rules():
    bad = frame(3)
    bad[0, :5, 0] = np.nan
    bad[1, :2, 1] = np.inf
    bad[2, :1, 2] = -np.inf
    found = check_cut(cut_of(two_shots(), frame(4), bad))
    (f,) = [f for f in found if f.rule == "pixels"]
    assert f.severity == Severity.ERROR and f.measured["nan"] == 5 and f.measured["inf"] == 3
    assert "sh020's boundary frame 1025 has 5 NaN and 3 infinite values" in f.explanation
    assert rules_of(found) == ["pixels"]


def test_a_frame_that_is_not_rgb_is_reported_not_raised():
    found = check_cut(cut_of(two_shots(), frame(5), np.zeros((4, 4), np.float32)))
    (f,) = [f for f in found if f.rule == "frames"]
    assert "(4, 4)" in f.explanation


def test_a_rule_that_raises_becomes_an_error_finding_and_the_others_still_run():
    class Broken:
        name, threshold, uses_pixels = "broken", 1.0, False

        def measure(self, cut):
            raise ZeroDivisionError("division by zero")

    rules = {"broken": Broken()} | dict(RULES)
    seq = two_shots(right={"lights": [SUN | {"intensity": 12.0}, SKY]})
    found = check_cut(cut_of(seq, frame(6), frame(7)), rules)  # type: ignore[arg-type]
    broken = next(f for f in found if f.rule == "broken")
    assert broken.severity == Severity.ERROR and broken.measured == {"crashed": 1.0}
    assert "ZeroDivisionError: division by zero" in broken.explanation
    assert "lighting" in rules_of(found)


def test_errors_come_before_warnings():
    left = frame(8)
    seq = two_shots(right={"frames": {"first": 1030, "last": 1040}}, right_scene="other")  # a gap: warn
    found = check_cut(cut_of(seq, left, mirrored(left) * np.float32(4.0)))  # 2 stops: error
    assert [f.severity for f in found] == sorted((f.severity for f in found), key=lambda s: -s.rank)
    assert rules_of(found)[0] == "exposure" and "format" in rules_of(found)


def test_several_grade_findings_carry_one_grade_between_them():
    left = frame(9)
    warm_and_bright = CDL(slope=(4.0, 3.0, 1.5))
    found = check_cut(cut_of(two_shots(right={"grade": warm_and_bright.model_dump(mode="json")}), left, mirrored(left)))
    assert {"exposure", "white_balance"} <= set(rules_of(found))
    grades = [f.fix for f in found if isinstance(f.fix, Grade)]
    assert len(grades) == 1
    covered = next(f for f in found if f.rule == "white_balance")
    assert covered.fix is None and "grade proposed with the exposure finding corrects this too" in covered.explanation


def test_every_rule_is_registered_under_its_own_name_with_a_threshold():
    expected = {
        "format", "tags", "lighting", "axis_180", "jump_cut_30", "screen_direction",
        "exposure", "white_balance", "contrast", "saturation",
    }
    assert set(RULES) == expected
    for name, rule in RULES.items():
        assert rule.name == name and rule.threshold > 0 and isinstance(rule.uses_pixels, bool)
