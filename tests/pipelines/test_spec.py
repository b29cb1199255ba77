"""The sequence spec: what a valid one looks like and how bad ones are reported."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from pipelines.spec.loading import SpecError, load_sequence, load_text, parse_sequence
from pipelines.spec.scene import Camera, CameraKey
from pipelines.spec.setup import shot_setup
from tests.builders import shot, spec


def problems(data) -> dict[str, str]:
    with pytest.raises(SpecError) as err:
        parse_sequence(data)
    return dict(err.value.problems)


def test_yaml_and_json_load_the_same_sequence(tmp_path):
    import yaml

    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec()))
    (tmp_path / "s.json").write_text(json.dumps(spec()))
    assert load_sequence(tmp_path / "s.yaml") == load_sequence(tmp_path / "s.json")


def test_models_are_frozen():
    seq = parse_sequence(spec())
    with pytest.raises(Exception, match="frozen"):
        seq.show = "other"  # type: ignore[misc]


@pytest.mark.parametrize(("fps", "expected"), [(24, Fraction(24)), ("24000/1001", Fraction(24000, 1001)), (25.0, Fraction(25))])
def test_fps_is_a_ratio(fps, expected):
    assert parse_sequence(spec(fps=fps)).fps == expected


def test_unknown_fields_are_named_with_their_path():
    data = spec(shot("sh010", 1001, 1008, colour="red"))
    assert problems(data) == {"shots[0].colour": "unknown field"}


def test_negative_frame_ranges_are_refused():
    assert "shots[0].frames.first" in problems(spec(shot("sh010", -5, 10)))


def test_a_range_that_ends_before_it_starts_is_refused():
    found = problems(spec(shot("sh010", 1010, 1001)))
    assert found == {"shots[0].frames": "last frame 1001 is before first frame 1010"}


def test_overlapping_shots_are_refused_naming_both():
    found = problems(spec(shot("sh010", 1001, 1010), shot("sh020", 1005, 1020)))
    assert "sh010 (1001-1010) and sh020 (1005-1020) overlap" in found[""]


def test_every_problem_is_reported_at_once():
    data = spec(shot("sh010", 1001, 1008, handles=-1), shot("sh020", 1009, 1012, samples=0))
    data["bogus"] = 1
    assert set(problems(data)) == {"shots[0].handles", "shots[1].samples", "bogus"}


def test_scene_references_must_resolve():
    data = spec()
    data["scenes"]["set"]["objects"][0]["material"] = "chrome"
    assert problems(data) == {"scenes.set": "objects use undefined materials: chrome"}


def test_unparsable_yaml_names_the_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("show: demo\nshots: [unclosed\n")
    with pytest.raises(SpecError, match=r"bad.yaml: cannot parse at line 3") as err:
        load_sequence(bad)
    assert err.value.source.endswith("bad.yaml")


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_a_spec_must_be_a_mapping(text):
    with pytest.raises(SpecError, match="expected a mapping"):
        load_text(text, "x.yaml")


def test_a_missing_file_is_one_clear_problem(tmp_path):
    with pytest.raises(SpecError) as err:
        load_sequence(tmp_path / "nope.yaml")
    assert err.value.problems == [("", "cannot read: file not found")]


def test_camera_keys_interpolate_per_frame_and_hold_outside():
    cam = Camera(
        keys=(
            CameraKey(frame=10, position=(10, 0, 0), look_at=(0, 0, -1), fov=30),
            CameraKey(frame=0, position=(0, 0, 0), look_at=(0, 0, -1), fov=50),
        )
    )
    assert cam.at(5).position == (5, 0, 0) and cam.at(5).fov == 40
    assert cam.at(-3).position == (0, 0, 0) and cam.at(99).position == (10, 0, 0)


def test_handles_extend_the_render_range_but_never_below_zero():
    seq = parse_sequence(spec(shot("sh010", 2, 10, handles=4)))
    assert (seq.shots[0].render_range.first, seq.shots[0].render_range.last) == (0, 14)


def test_shot_lights_replace_the_scene_lights_and_keys_are_shot_relative():
    lit = shot("sh020", 1009, 1012, lights=[{"type": "sun", "direction": [0, 1, 0], "kelvin": 3200}])
    seq = parse_sequence(spec(shot("sh010", 1001, 1008), lit))
    assert shot_setup(seq, "sh010").lights[0].type == "sky"
    setup = shot_setup(seq, "sh020")
    assert setup.lights[0].type == "sun" and setup.relative(1009) == 0.0


def test_the_setup_digest_changes_with_anything_that_changes_pixels():
    seq = parse_sequence(spec())
    other = parse_sequence(spec(samples=3))
    assert shot_setup(seq, "sh010").digest != shot_setup(other, "sh010").digest
    assert shot_setup(seq, "sh010").digest == shot_setup(parse_sequence(spec()), "sh010").digest


def test_a_preview_quality_replaces_resolution_and_every_samples_override():
    seq = parse_sequence(spec(shot("sh010", 1001, 1004, samples=64), samples=16))
    preview = seq.with_quality(resolution=(32, 18), samples=1)
    assert preview.resolution == (32, 18)
    assert preview.samples_for(preview.shots[0]) == 1
    assert seq.with_quality() is seq
