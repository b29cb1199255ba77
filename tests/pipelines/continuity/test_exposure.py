"""Exposure: a jump in log-average luminance within one setting, fixed by a grade."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.color.cdl import CDL
from pipelines.continuity.findings import Grade, Severity
from pipelines.continuity.rules import RULES
from pipelines.continuity.rules.grade import EXPOSURE_ERROR, EXPOSURE_WARN
from tests.pipelines.continuity.synthetic import cut_of, findings_of, frame, graded, mirrored, regraded, two_shots

RULE = RULES["exposure"]


def plates(stops: float):
    """A cut the renderer does not vouch for (two scenes at one location), right frame `stops` brighter."""
    left = frame(1)
    return cut_of(two_shots(right_scene="other"), left, mirrored(left) * np.float32(2.0**stops))


@pytest.mark.parametrize(
    ("times_threshold", "severity"),
    [(0.0, None), (0.9, None), (1.05, Severity.WARN), (1.9, Severity.WARN), (2.1, Severity.ERROR), (-2.1, Severity.ERROR)],
)
def test_a_jump_is_judged_against_a_third_and_two_thirds_of_a_stop(times_threshold, severity):
    stops = times_threshold * EXPOSURE_WARN
    found = findings_of(plates(stops), "exposure")
    assert [f.severity for f in found] == ([severity] if severity else [])
    if found:
        assert found[0].measured["stops"] == pytest.approx(stops, abs=0.01)
        assert found[0].threshold == EXPOSURE_WARN
    assert EXPOSURE_ERROR == 2 * EXPOSURE_WARN


def test_the_explanation_names_both_shots_and_the_numbers():
    (f,) = findings_of(plates(1.0), "exposure")
    assert "sh020 is 1.00 stop brighter than sh010" in f.explanation
    assert "frame 1024" in f.explanation and "frame 1025" in f.explanation
    assert "frames are judged against each other within one setting (quarry, noon): 1.00 stop" in f.explanation
    assert "tolerance of 0.33 stop" in f.explanation
    assert f.cut == "sh010>sh020" and f.left == "sh010" and f.right == "sh020"


@pytest.mark.parametrize("stops", [0.5, 1.0, -1.5, 3.0])
def test_the_grade_fix_brings_the_right_shot_back_within_a_tenth_of_a_stop(stops):
    cut = plates(stops)
    (f,) = findings_of(cut, "exposure")
    assert isinstance(f.fix, Grade) and f.fix.shot == "sh020"
    assert f.fix.cdl.offset == (0.0, 0.0, 0.0)
    fixed = regraded(cut, f.fix.cdl)
    assert abs(RULE.measure(fixed)["stops"]) < 0.1
    assert findings_of(fixed, "exposure") == []


def test_a_wrong_grade_on_the_same_rig_is_found_and_the_fix_replaces_it():
    left = frame(2)
    seq = two_shots(right=graded(CDL(slope=(1.8, 1.8, 1.8))))
    cut = cut_of(seq, left, mirrored(left))
    (f,) = findings_of(cut, "exposure")
    assert f.measured["grade_stops"] == pytest.approx(np.log2(1.8), abs=0.01)
    assert f.measured["same_rig"] == 1.0
    assert "render the same set under the same lights" in f.explanation
    assert "what the grades add is judged: 0.85 stop" in f.explanation
    assert f.fix.cdl.slope == pytest.approx((1.0, 1.0, 1.0), abs=0.02)  # the full grade, not a correction on top
    assert findings_of(regraded(cut, f.fix.cdl), "exposure") == []


def test_on_the_same_rig_a_darker_framing_is_not_an_exposure_jump():
    # Same set, same lights, no grades: the raw renders can only differ by what is in frame.
    left = frame(12)
    cut = cut_of(two_shots(), left, mirrored(left) * np.float32(0.7))
    m = RULE.measure(cut)
    assert m["stops"] == pytest.approx(np.log2(0.7), abs=0.01) and m["grade_stops"] == pytest.approx(0.0, abs=1e-6)
    assert findings_of(cut, "exposure") == []


def test_the_left_grade_counts_too():
    left = frame(3)
    seq = two_shots(left=graded(CDL(slope=(0.5, 0.5, 0.5))))
    (f,) = findings_of(cut_of(seq, left, mirrored(left)), "exposure")
    assert f.measured["stops"] == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize(
    "tags",
    [
        {"location": "beach", "time_of_day": "noon"},
        {"location": "quarry", "time_of_day": "night"},
    ],
)
def test_another_location_or_time_of_day_is_not_a_jump_but_a_new_setting(tags):
    left = frame(4)
    cut = cut_of(two_shots(right={"continuity": tags}), left, mirrored(left) * np.float32(8.0))
    assert RULE.measure(cut) is None
    assert findings_of(cut, "exposure") == []


def test_without_tags_sharing_the_scene_makes_it_one_setting_and_another_scene_does_not():
    left = frame(5)
    bright = mirrored(left) * np.float32(4.0)
    untagged = {"continuity": {}}
    same = two_shots(left=untagged, right=untagged)
    other = two_shots(left=untagged, right=untagged, right_scene="other")
    assert RULE.measure(cut_of(same, left, bright)) is not None
    assert RULE.measure(cut_of(other, left, bright)) is None


def test_a_missing_frame_makes_the_rule_not_applicable():
    assert RULE.measure(cut_of(two_shots(), frame(6), None)) is None
