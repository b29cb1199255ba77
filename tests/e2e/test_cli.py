"""The command line: bad input is one clear message and exit code 2, never a traceback."""

from __future__ import annotations

import json

import pytest
import yaml

from orchestrator.interfaces.cli import main
from tests.builders import shot, spec


def write(tmp_path, data, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_validate_accepts_a_good_spec(tmp_path, capsys):
    code, out, _ = run(capsys, "validate", write(tmp_path, spec()))
    assert code == 0 and "ok (2 shots, 12 frames, 24 fps)" in out


def test_schema_prints_the_json_schema(capsys):
    code, out, _ = run(capsys, "schema")
    schema = json.loads(out)
    assert code == 0 and schema["title"] == "Sequence" and "shots" in schema["properties"]


BAD_SPECS = {
    "unknown field": (spec(shot("sh010", 1001, 1008, lens="50mm")), "shots[0].lens: unknown field"),
    "negative range": (spec(shot("sh010", -8, 10)), "shots[0].frames.first: Input should be greater than or equal to 0"),
    "overlap": (spec(shot("sh010", 1001, 1010), shot("sh020", 1010, 1020)), "overlap on the timeline"),
    "unparsable": ("show: [oops\n", "cannot parse at line 2"),
    "NaN radius": (
        spec() | {"scenes": {"set": spec()["scenes"]["set"] | {"objects": [
            {"type": "sphere", "name": "orb", "center": [0, 1, 0], "radius": float("nan"), "material": "grey"}]}}},
        "scenes.set.objects[0].radius: nan is not a finite number",
    ),
    "a trillion frames": (spec(shot("sh010", 1001, 10**12)), "shots[0].frames.last: Input should be less than or equal to 10000000"),
    "deep nesting": ("show: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 32 levels deep"),
    "alias bomb": ("a: &a [x, x, x]\nb: [*a, *a, *a]\n", "aliases (*name) are not accepted"),
    "odd resolution": (spec(resolution=[16, 9]), "resolution[1]: Input should be a multiple of 2"),
    "boolean samples": (spec(samples=True), "samples: Input should be a valid integer"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
@pytest.mark.parametrize("command", ["validate", "render"])
def test_a_bad_spec_is_one_clear_message_and_exit_2(tmp_path, capsys, case, command):
    data, message = BAD_SPECS[case]
    path = write(tmp_path, data)
    extra = ["--out", tmp_path / "out"] if command == "render" else []
    code, _, err = run(capsys, command, path, *extra)
    assert code == 2
    assert str(path) in err and message in err
    assert not (tmp_path / "out").exists()  # nothing started


@pytest.mark.parametrize("command", ["validate", "render"])
def test_a_missing_file_is_exit_2(tmp_path, capsys, command):
    code, _, err = run(capsys, command, tmp_path / "nope.yaml")
    assert code == 2 and "nope.yaml" in err and "file not found" in err


def test_an_output_folder_that_cannot_be_written_is_exit_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, _, err = run(capsys, "render", write(tmp_path, spec()), "--out", blocker / "out")
    assert code == 2 and f"--out {blocker / 'out'}: cannot write there" in err


def test_a_bad_flag_is_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["render", str(write(tmp_path, spec())), "--resolution", "wide"])
    assert exit_.value.code == 2
    assert "expected WIDTHxHEIGHT" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--resolution", "100000x100000", "width and height must be from 16 to 8192"),
        ("--resolution", "17x19", "must be even"),
        ("--samples", "1000000000", "must be from 1 to 4,096"),
        ("--chunk-frames", "0", "must be from 1 to 1,000"),
        ("--cpus", "-1", "must be from 1"),
    ],
)
def test_out_of_bounds_flags_are_exit_2_before_any_work(tmp_path, capsys, flag, value, message):
    with pytest.raises(SystemExit) as exit_:
        main(["render", str(write(tmp_path, spec())), "--out", str(tmp_path / "out"), flag, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


# -- retiring a sequence the farm cannot fold -------------------------------------


def poisoned_log(out):
    from orchestrator.core import events as ev
    from orchestrator.eventlog.sqlite import SqliteEventLog

    data = spec()
    data["scenes"]["set"]["objects"][1]["radius"] = None  # what an older release logged for NaN
    out.mkdir()
    log = SqliteEventLog(out / "shotfarm.db")
    log.append(ev.SequenceSubmitted(at=1.0, sequence_id="demo:sq010", spec=data, spec_digest="old"))
    log.close()


def test_log_verify_names_the_record_and_retire_clears_it(tmp_path, capsys):
    out = tmp_path / "out"
    poisoned_log(out)
    code, stdout, _ = run(capsys, "log", "verify", "--out", out)
    assert code == 1
    assert "seq 1 demo:sq010: SequenceSubmitted cannot be folded" in stdout
    assert "demo:sq010  set aside" in stdout
    code, stdout, _ = run(capsys, "log", "retire", "demo:sq010", "--reason", "NaN radius from 0.1", "--out", out)
    assert code == 0 and "demo:sq010: retired (seq 2)" in stdout
    code, stdout, _ = run(capsys, "log", "verify", "--out", out)
    assert code == 0, stdout
    assert "retired by cli:" in stdout and "NaN radius from 0.1" in stdout


@pytest.mark.parametrize(
    "argv, message",
    [
        (["demo:sq010", "--reason", "x"], "no sequence demo:sq010"),
        (["not an id", "--reason", "x"], "is not a sequence id"),
        (["demo:sq010", "--reason", " "], "give a reason"),
    ],
)
def test_retire_refuses_what_it_cannot_retire_with_exit_2(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    poisoned_log(out)
    run(capsys, "log", "retire", "demo:sq010", "--reason", "first", "--out", out)
    code, _, err = run(capsys, "log", "retire", *argv, "--out", out)
    assert code == 2 and message in err


def test_retire_while_a_farm_holds_the_log_points_at_the_api(tmp_path, capsys):
    import os

    from orchestrator.eventlog.sqlite import own_log

    out = tmp_path / "out"
    poisoned_log(out)
    fd = own_log(str(out / "shotfarm.db") + ".lock", timeout=0)
    try:
        code, _, err = run(capsys, "log", "retire", "demo:sq010", "--reason", "x", "--out", out)
    finally:
        os.close(fd)
    assert code == 2 and "POST /v1/sequences/demo:sq010/retire" in err
