"""Editorial format: one rate, size and colour space across a cut, and no unplanned gap."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest

from pipelines.continuity.check import check_cut
from pipelines.continuity.findings import Review, Severity
from pipelines.continuity.rules import RULES
from tests.pipelines.continuity.synthetic import camera, cut_of, two_shots

RULE = RULES["format"]


def adjacent(first_right: int = 1025):
    seq = two_shots(right={"frames": {"first": first_right, "last": first_right + 10}})
    return cut_of(seq, None, None)


def test_adjacent_shots_of_one_sequence_have_nothing_to_report():
    m = RULE.measure(adjacent())
    assert m["gap_frames"] == 0 and m["format_mismatches"] == 0
    assert RULE.judge(m) is None


@pytest.mark.parametrize(("first_right", "gap"), [(1028, 3), (1026, 1)])
def test_a_gap_is_a_warning_with_its_length(first_right, gap):
    cut = adjacent(first_right)
    (f,) = [f for f in check_cut(cut) if f.rule == "format"]
    assert f.severity == Severity.WARN and f.measured["gap_frames"] == gap and isinstance(f.fix, Review)
    assert f"a gap of {gap} frame" in f.explanation and "sh010's last cut frame (1024)" in f.explanation


def test_an_overlap_is_a_warning_too():
    cut = adjacent()
    shot = cut.right.shot.model_copy(update={"frames": cut.right.shot.frames.model_copy(update={"first": 1022})})
    cut = cut.with_right(dataclasses.replace(cut.right, shot=shot))
    (f,) = [f for f in check_cut(cut) if f.rule == "format"]
    assert f.measured["gap_frames"] == -3 and "an overlap of 3 frames" in f.explanation


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"fps": Fraction(25)}, "frame rate 24 fps against 25 fps"),
        ({"resolution": (64, 36)}, "resolution 32x18 against 64x36"),
        ({"colour_space": "Rec.709"}, "colour space ACEScg against Rec.709"),
    ],
)
def test_a_format_mismatch_is_an_error(change, words):
    cut = adjacent()
    cut = cut.with_right(dataclasses.replace(cut.right, **change))
    (f,) = [f for f in check_cut(cut) if f.rule == "format"]
    assert f.severity == Severity.ERROR and words in f.explanation
    assert "sh010 and sh020 do not share a format" in f.explanation
    assert "Conform" in f.fix.reason


def test_format_applies_across_locations():
    cut = cut_of(two_shots(right={"continuity": {"location": "moon"}, "camera": {"keys": [camera((1, 1, 5))]}}), None, None)
    assert RULE.measure(cut) is not None
