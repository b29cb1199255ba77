"""The scene mapping: rules per clip name and index over a default, and every mistake named by path."""

from __future__ import annotations

from fractions import Fraction

import pytest

from pipelines.editorial.cut import ClipEvent, EditorialCut, EditorialError
from pipelines.editorial.mapping import build_sequence, parse_mapping
from pipelines.spec.sequence import FrameRange
from tests.pipelines.editorial.support import camera, mapping


def cut(*clips: tuple[str, int, int], dissolves: dict[int, int] | None = None) -> EditorialCut:
    events = [
        ClipEvent(index=i, name=n, record=FrameRange(first=a, last=b), dissolve=(dissolves or {}).get(i, 0))
        for i, (n, a, b) in enumerate(clips)
    ]
    return EditorialCut(source="cut.otio", fps=Fraction(24), clips=tuple(events))


THREE = cut(("A", 0, 9), ("B", 10, 19), ("C", 20, 29))


def problems(data, the_cut=THREE):
    with pytest.raises(EditorialError) as e:
        build_sequence(the_cut, parse_mapping(data))
    return dict(e.value.problems)


def test_the_most_specific_rule_wins_field_by_field():
    m = parse_mapping(
        mapping(
            scenes=mapping()["scenes"] | {"night": mapping()["scenes"]["set"]},
            by_name={"B": {"scene": "night", "camera": camera(60), "handles": 3}},
            by_index={"1": {"camera": camera(120)}, "2": {"shot": "hero", "camera": camera(240)}},
        )
    )
    spec = build_sequence(THREE, m).spec
    a, b, hero = spec.timeline
    assert (a.scene, b.scene, hero.scene) == ("set", "night", "set")
    assert b.camera.keys[0].position[0] == pytest.approx(6 * 0.8660254, abs=1e-3)  # by_index beat by_name
    assert (a.handles, b.handles, hero.handles) == (8, 3, 8)
    assert hero.name == "hero"


def test_record_frame_zero_lands_on_first_frame():
    spec = build_sequence(THREE, parse_mapping(mapping(first_frame=86400))).spec
    assert [s.frames.first for s in spec.timeline] == [86400, 86410, 86420]


def test_handles_grow_to_cover_a_dissolve_on_both_sides():
    spec = build_sequence(cut(("A", 0, 9), ("B", 10, 19), dissolves={1: 7}), parse_mapping(mapping(handles=1))).spec
    assert [s.handles for s in spec.timeline] == [4, 4]


def test_repeated_clip_names_get_a_suffix_and_a_warning():
    imported = build_sequence(cut(("take", 0, 9), ("take", 10, 19)), parse_mapping(mapping()))
    assert [s.name for s in imported.spec.timeline] == ["take", "take_2"]
    assert any("became shot take_2" in w for w in imported.warnings)


def test_clips_with_unusable_names_are_numbered():
    spec = build_sequence(cut(("", 0, 9), ("***", 10, 19)), parse_mapping(mapping())).spec
    assert [s.name for s in spec.timeline] == ["sh010", "sh020"]


@pytest.mark.parametrize(
    "data, path, text",
    [
        (mapping(default=None), "by_index.0", "has no scene or camera"),
        (mapping(default={"scene": "set"}), "by_index.0", "has no camera"),
        (mapping(by_name={"Z": {"camera": camera(10)}}), "by_name.Z", "no clip of that name"),
        (mapping(by_index={"7": {"camera": camera(10)}}), "by_index.7", "has 3 clips"),
        (mapping(by_index={"0": {"shot": "x"}, "1": {"shot": "x"}}), "by_index", "more than one clip: x"),
    ],
)
def test_rules_that_cannot_work_are_named(data, path, text):
    found = problems(data)
    assert path in found and text in found[path]


@pytest.mark.parametrize(
    "data, path",
    [
        (mapping(show="no spaces allowed"), "show"),
        (mapping(default={"scene": "set", "camera": {"keys": []}}), "default.camera.keys"),
        (mapping(by_name={"A": {"scene": "nowhere"}}), "by_name.A"),
        (mapping(by_index={"-1": {"scene": "set"}}), "by_index.-1.[key]"),
        (mapping(handles=99), "handles"),
        (mapping(fps="fast"), "fps"),
        (mapping(lens="50mm"), "lens"),
    ],
)
def test_a_malformed_mapping_is_refused_with_the_field_path(data, path):
    with pytest.raises(EditorialError) as e:
        parse_mapping(data)
    assert path in dict(e.value.problems), e.value.render()


def test_a_mapping_must_be_an_object():
    with pytest.raises(EditorialError, match="expected a mapping"):
        parse_mapping(["not", "a", "mapping"])


def test_a_sequence_the_cut_cannot_make_is_refused_with_spec_paths():
    with pytest.raises(EditorialError) as e:
        build_sequence(cut(("A", 0, 9), ("B", 5, 19)), parse_mapping(mapping()))
    assert "overlap on the timeline" in e.value.render()
