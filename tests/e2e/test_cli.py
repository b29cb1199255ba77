"""The command line: bad input is one clear message and exit code 2, never a traceback."""

from __future__ import annotations

import json

import pytest
import yaml

from orchestrator.cli import main
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
