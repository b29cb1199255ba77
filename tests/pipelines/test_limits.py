"""Every input is bounded before it is trusted: sizes, depth, numbers, strings, lists.

The spec's limits live in pipelines.spec.limits; each is named in the error a
TD reads, and docs/limits.md lists every one of them with its value.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipelines.spec import limits
from pipelines.spec.documents import check_json_depth, read_document
from pipelines.spec.errors import MAX_PROBLEMS
from pipelines.spec.loading import SpecError, load_sequence, load_text, parse_sequence
from tests.builders import shot, spec

ROOT = Path(__file__).resolve().parents[2]


def problems(data: object) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as err:
        parse_sequence(data)
    return err.value.problems


def test_docs_list_every_limit_with_its_value():
    page = (ROOT / "docs" / "limits.md").read_text()
    for limit in limits.LIMITS.values():
        row = next((line for line in page.splitlines() if f"`{limit.name}`" in line), None)
        assert row is not None, f"docs/limits.md does not list {limit.name}"
        assert f"{limit.value:,}" in row, f"docs/limits.md gives {limit.name} another value than {limit.value:,}"


@pytest.mark.parametrize("text", ['{"radius": NaN}', '{"radius": Infinity}', '{"radius": -Infinity}', '{"radius": 1e999}'])
def test_non_finite_json_numbers_are_refused_at_their_path(text):
    with pytest.raises(SpecError) as err:
        read_document(text.encode(), "spec.json", yaml_ok=False)
    assert err.value.problems[0][0] == "radius"
    assert "not a finite number" in err.value.problems[0][1]


@pytest.mark.parametrize("value, shown", [(".nan", "nan"), (".inf", "inf"), ("-.inf", "-inf"), (".NaN", "nan")])
def test_non_finite_yaml_numbers_are_refused_at_their_path(value, shown):
    with pytest.raises(SpecError) as err:
        read_document(f"shots:\n  - frames: {{first: {value}}}\n".encode(), "spec.yaml")
    assert err.value.problems == [("shots[0].frames.first", f"{shown} is not a finite number")]


@pytest.mark.parametrize(
    "path, value",
    [
        (("scenes", "set", "objects", 1, "radius"), float("nan")),
        (("scenes", "set", "objects", 1, "center", 0), float("inf")),
        (("shots", 0, "camera", "keys", 0, "position", 2), float("-inf")),
        (("budget_usd",), float("nan")),
        (("shots", 0, "grade"), {"slope": [float("nan"), 1, 1]}),
    ],
)
def test_the_models_refuse_non_finite_numbers_too(path, value):
    data = spec()
    where = data
    for key in path[:-1]:
        where = where[key]
    where[path[-1]] = value
    assert problems(data)


@pytest.mark.parametrize(
    "field, value",
    [("samples", True), ("bounces", False), ("seed", True), ("priority", True), ("resolution", [True, 18])],
)
def test_booleans_are_not_numbers(field, value):
    assert problems(spec(**{field: value}))


def test_a_boolean_coordinate_is_refused():
    data = spec()
    data["scenes"]["set"]["objects"][1]["radius"] = True
    assert problems(data)


def test_a_frame_range_past_the_last_frame_number_is_refused_naming_the_limit():
    found = problems(spec(shot("sh010", 1001, 1_000_000_000_000)))
    assert found[0] == (
        "shots[0].frames.last",
        f"Input should be less than or equal to {limits.MAX_FRAME} (MAX_FRAME, see docs/limits.md)",
    )


def test_a_shot_longer_than_the_limit_is_refused_naming_it():
    found = problems(spec(shot("sh010", 0, limits.MAX_SHOT_FRAMES)))
    assert "MAX_SHOT_FRAMES" in found[0][1] and "sh010" in found[0][1]


def test_a_sequence_longer_than_the_limit_is_refused_naming_it():
    n = limits.MAX_SEQUENCE_FRAMES // limits.MAX_SHOT_FRAMES + 1
    shots = [shot(f"sh{i:03d}", i * limits.MAX_SHOT_FRAMES, (i + 1) * limits.MAX_SHOT_FRAMES - 1) for i in range(n)]
    found = problems(spec(*shots))
    assert any("MAX_SEQUENCE_FRAMES" in message for _, message in found)


def test_too_many_shots_are_refused_naming_the_limit():
    shots = [shot(f"sh{i:04d}", i, i) for i in range(limits.MAX_SHOTS + 1)]
    assert any(path == "shots" and "MAX_SHOTS" in message for path, message in problems(spec(*shots)))


@pytest.mark.parametrize(
    "field, value, limit",
    [("samples", 5000, "MAX_SAMPLES"), ("bounces", 17, "MAX_BOUNCES"), ("seed", 2**31, "MAX_SEED"), ("resolution", [8194, 18], "MAX_SIDE")],
)
def test_an_upper_bound_names_its_limit(field, value, limit):
    assert limit in problems(spec(**{field: value}))[0][1]


@pytest.mark.parametrize("resolution", [[16, 9], [33, 18], [8, 8], [8194, 4320], [0, 0], [-2, 18]])
def test_resolutions_the_deliverables_cannot_hold_are_refused(resolution):
    assert any(path.startswith("resolution") for path, _ in problems(spec(resolution=resolution)))


def test_even_resolutions_within_bounds_are_accepted():
    assert parse_sequence(spec(resolution=[16, 16])).resolution == (16, 16)
    assert parse_sequence(spec(resolution=[8192, 4320])).resolution == (8192, 4320)


@pytest.mark.parametrize("field, value", [("samples", 10**9), ("bounces", 1000), ("seed", 2**64), ("priority", 101)])
def test_quality_and_scheduling_numbers_are_bounded(field, value):
    assert problems(spec(**{field: value}))[0][0] == field


def test_free_text_is_bounded():
    long = "x" * (limits.MAX_TEXT + 1)
    found = problems(spec(shot("sh010", 1001, 1008, continuity={"location": long})))
    assert found[0][0] == "shots[0].continuity.location"


def test_a_50_mb_string_is_refused_before_validation_with_its_path():
    text = json.dumps(spec(shot("sh010", 1001, 1008, continuity={"location": "x" * 50_000_000})))
    with pytest.raises(SpecError) as err:
        read_document(text.encode(), "spec.json", yaml_ok=False, max_bytes=64 * limits.MiB)
    assert err.value.problems[0][0] == "shots[0].continuity.location"
    assert "MAX_STRING" in err.value.problems[0][1]


def test_a_document_over_the_size_limit_is_refused_before_it_is_decoded():
    with pytest.raises(SpecError, match="over the limit"):
        read_document(b" " * (limits.MAX_DOCUMENT_BYTES + 1), "spec.yaml")


@pytest.mark.parametrize("depth", [limits.MAX_DEPTH + 1, 50_000])
def test_deep_json_is_refused_without_recursing(depth):
    text = "[" * depth + "]" * depth
    with pytest.raises(SpecError, match=f"nested more than {limits.MAX_DEPTH} levels deep"):
        read_document(text.encode(), "spec.json", yaml_ok=False)


@pytest.mark.parametrize("text", ["a:\n" + "".join(" " * i + "- \n" for i in range(1, 200)), "[" * 50_000])
def test_deep_yaml_is_refused_without_recursing(text):
    with pytest.raises(SpecError, match="nested more than"):
        read_document(text.encode(), "spec.yaml")


def test_brackets_inside_strings_do_not_count_towards_depth():
    text = json.dumps({"name": "[[[[" * 1000 + '\\"{{{{'})
    check_json_depth(text, "x.json", limits.MAX_DEPTH)


def test_depth_within_the_limit_is_fine():
    depth = limits.MAX_DEPTH
    assert read_document(("[" * depth + "]" * depth).encode(), "x.json", yaml_ok=False) == json.loads("[" * depth + "]" * depth)


@pytest.mark.parametrize(
    "text, source",
    [('{"show": "a", "show": "b"}', "spec.json"), ("show: a\nshow: b\n", "spec.yaml")],
)
def test_a_key_given_twice_is_refused(text, source):
    with pytest.raises(SpecError, match="appears twice"):
        read_document(text.encode(), source, yaml_ok=source.endswith(".yaml"))


def test_yaml_aliases_are_refused_from_files_too(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text('a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b]\n')
    with pytest.raises(SpecError, match="aliases"):
        load_sequence(bomb)


def test_a_million_invalid_items_give_a_short_answer():
    text = json.dumps({"shots": [0] * 1_000_000})
    with pytest.raises(SpecError) as err:
        read_document(text.encode(), "spec.json", yaml_ok=False)
    assert len(err.value.render()) < 1000
    assert "MAX_ITEMS" in err.value.problems[0][1]


def test_an_error_lists_at_most_the_first_problems_and_counts_the_rest():
    shots = [{"name": f"sh{i:03d}"} for i in range(500)]
    found = problems(spec(*shots))
    assert len(found) == MAX_PROBLEMS + 1
    assert re.match(r"\.\.\. and [\d,]+ more problem\(s\)", found[-1][1])


def test_one_problem_is_one_line():
    with pytest.raises(SpecError) as err:
        load_text(json.dumps(spec(samples=0)), "spec.json")
    assert err.value.render().count("\n") == 0
    assert err.value.render().startswith("spec.json: samples: ")


def test_many_objects_with_repeated_names_are_checked_in_one_pass():
    data = spec()
    objects = [{"type": "sphere", "name": f"o{i % 500}", "center": [0, 0, 0], "radius": 1, "material": "grey"} for i in range(1000)]
    data["scenes"]["set"]["objects"] = objects
    found = problems(data)
    assert "object names must be unique" in found[0][1]


def test_fps_strings_are_bounded_and_never_computed_huge():
    assert problems(spec(fps="1e99999999"))[0][0] == "fps"
    assert problems(spec(fps=True))[0][0] == "fps"
    assert parse_sequence(spec(fps="24000/1001")).fps.denominator == 1001
