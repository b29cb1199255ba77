"""Declared continuity: the script supervisor's notes must agree within a location."""

from __future__ import annotations

import pytest

from pipelines.continuity.check import check_cut
from pipelines.continuity.findings import Review, Severity
from pipelines.continuity.rules import RULES
from tests.pipelines.continuity.synthetic import cut_of, two_shots

RULE = RULES["tags"]


def tagged(left: dict, right: dict):
    base = {"location": "quarry", "time_of_day": "noon"}
    return cut_of(two_shots(left={"continuity": base | left}, right={"continuity": base | right}), None, None)


@pytest.mark.parametrize(
    ("left", "right", "counts"),
    [
        ({}, {}, (0, 0, 0)),
        ({"time_of_day": "noon"}, {"time_of_day": "dusk"}, (1, 0, 0)),
        ({"wardrobe": {"hero": "red coat"}}, {"wardrobe": {"hero": "blue coat"}}, (0, 1, 0)),
        ({"wardrobe": {"hero": "red coat"}}, {"wardrobe": {"villain": "cape"}}, (0, 0, 0)),  # different people
        ({"props": ["lantern", "rope"]}, {"props": ["rope"]}, (0, 0, 1)),
        ({"props": ["rope"]}, {"props": ["rope", "map"]}, (0, 0, 1)),
        ({"props": ["map"]}, {"props": ["map"]}, (0, 0, 0)),
    ],
)
def test_contradictions_are_counted_by_kind(left, right, counts):
    m = RULE.measure(tagged(left, right))
    assert (m["time_of_day"], m["wardrobe"], m["props"]) == counts
    assert RULE.judge(m) == (Severity.WARN if sum(counts) else None)


def test_a_contradiction_is_a_warning_with_a_review_naming_what_disagrees():
    cut = tagged({"wardrobe": {"hero": "red coat"}, "props": ["lantern"]}, {"wardrobe": {"hero": "blue coat"}})
    (f,) = [f for f in check_cut(cut) if f.rule == "tags"]
    assert f.severity == Severity.WARN and isinstance(f.fix, Review)
    assert "sh010 and sh020 are at the same location" in f.explanation
    assert "2 places" in f.explanation
    assert "wardrobe 'hero' is 'red coat' in sh010 but 'blue coat' in sh020" in f.explanation
    assert "prop 'lantern' is in sh010 but not in sh020" in f.explanation


def test_different_locations_may_differ_in_everything():
    cut = tagged({"location": "quarry", "props": ["lantern"]}, {"location": "cave", "time_of_day": "night"})
    assert RULE.measure(cut) is None


def test_without_a_declared_location_the_shared_scene_stands_in():
    untagged = cut_of(two_shots(left={"continuity": {"props": ["map"]}}, right={"continuity": {}}), None, None)
    assert RULE.judge(RULE.measure(untagged)) == Severity.WARN
    elsewhere = cut_of(
        two_shots(left={"continuity": {"props": ["map"]}}, right={"continuity": {}}, right_scene="other"), None, None
    )
    assert RULE.measure(elsewhere) is None
