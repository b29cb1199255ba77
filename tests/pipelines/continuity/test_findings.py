"""Findings and fixes: plain data the farm stores, and RFC 7386 patches that make new shots."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from pipelines.color.cdl import CDL
from pipelines.continuity.findings import Finding, Fix, Grade, Requeue, Review, Severity, apply_patch, merge_patch
from tests.pipelines.continuity.synthetic import two_shots

# The examples of RFC 7386, appendix A.
RFC_7386 = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC_7386)
def test_merge_patch_follows_every_example_of_rfc_7386(target, patch, result):
    assert merge_patch(target, patch) == result


def test_merge_patch_leaves_its_inputs_alone():
    target, patch = {"a": {"b": 1}}, {"a": {"c": 2}}
    merge_patch(target, patch)
    assert target == {"a": {"b": 1}} and patch == {"a": {"c": 2}}


def test_apply_patch_replaces_the_camera_keys_and_keeps_the_rest():
    shot = two_shots().shot("sh020")
    keys = [{"frame": 0, "position": [1, 2, 3], "look_at": [0, 1, 0], "fov": 30}]
    new = apply_patch(shot, {"camera": {"keys": keys}})
    assert new.camera.keys[0].position == (1, 2, 3) and new.camera.keys[0].fov == 30
    assert new.model_dump(exclude={"camera"}) == shot.model_dump(exclude={"camera"})


def test_a_null_in_the_patch_removes_a_lights_override():
    shot = two_shots(right={"lights": [{"type": "sky", "intensity": 2.0}]}).shot("sh020")
    assert apply_patch(shot, {"lights": None}).lights is None


def test_apply_patch_validates_the_result():
    shot = two_shots().shot("sh020")
    with pytest.raises(ValidationError):
        apply_patch(shot, {"camera": {"keys": []}})


def test_fixes_round_trip_through_json_by_their_kind():
    adapter = TypeAdapter(Fix)
    fixes = [
        Grade(shot="sh020", cdl=CDL(slope=(0.5, 0.5, 0.6))),
        Requeue(shot="sh020", patch={"lights": None}),
        Review(reason="look at it"),
    ]
    for fix in fixes:
        assert adapter.validate_json(adapter.dump_json(fix)) == fix


def test_a_finding_round_trips_through_json():
    finding = Finding(
        rule="exposure",
        cut="sh010>sh020",
        left="sh010",
        right="sh020",
        measured={"stops": 1.0},
        threshold=1 / 3,
        severity=Severity.ERROR,
        explanation="sh020 is brighter.",
        fix=Grade(shot="sh020", cdl=CDL(slope=(0.5, 0.5, 0.5))),
    )
    assert Finding.model_validate_json(finding.model_dump_json()) == finding


def test_severities_are_ordered():
    assert Severity.INFO.rank < Severity.WARN.rank < Severity.ERROR.rank
    assert Severity("warn") is Severity.WARN
