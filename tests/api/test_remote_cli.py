"""`shotfarm submit/status/cancel` against a live server: clear messages and exit codes, never a traceback."""

from __future__ import annotations

import argparse
import json
import socket

import pytest
import yaml

from orchestrator.interfaces.remote_cli import add_commands
from orchestrator.interfaces.sdk import ApiError, Client
from tests.api.support import DEMO, OTHER, local_server
from tests.builders import shot, spec
from tests.pipelines.editorial.support import HERE, camera, mapping
from tests.pipelines.editorial.synthetic import Plan, encode, frames

TWO = spec(shot("sh010", 1001, 1008), shot("sh020", 1009, 1012, angle=60))


def run(live, capsys, *argv, token=DEMO):
    parser = argparse.ArgumentParser(prog="shotfarm")
    handlers = add_commands(parser.add_subparsers(dest="command", required=True))
    server = ["--server", live.url] if live else ["--server", "http://127.0.0.1:9"]
    args = parser.parse_args([str(a) for a in argv] + server + (["--token", token] if token else []))
    code = handlers[args.command](args)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def write(tmp_path, data, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_submit_a_spec_then_see_it_in_status(live, tmp_path, capsys):
    code, out, _ = run(live, capsys, "submit", write(tmp_path, TWO))
    assert code == 0 and "demo:sq010: submitted" in out
    code, out, _ = run(live, capsys, "status")
    assert code == 0 and "demo:sq010" in out and "rendering" in out
    code, out, _ = run(live, capsys, "status", "demo:sq010")
    assert code == 0 and "sh010" in out and "sh010>sh020" in out and "0/1" in out


def test_a_bad_spec_is_exit_2_with_field_paths_and_nothing_is_sent(live, tmp_path, capsys):
    bad = dict(TWO, shots=[shot("sh010", -3, 4)])
    code, _, err = run(live, capsys, "submit", write(tmp_path, bad))
    assert code == 2 and "shots[0].frames.first" in err
    assert Client(live.url, DEMO).sequences() == []


@pytest.mark.parametrize(
    "argv, text",
    [
        (["submit", "missing.yaml"], "file not found"),
        (["submit", HERE / "dissolve_grades.edl"], "needs a scene mapping"),
        (["submit", HERE.parent / "synthetic.py"], "unknown kind of file"),
        (["status", "not-an-id"], "not a sequence id"),
        (["cancel", "demo:nothing"], "no such sequence (HTTP 404)"),
    ],
)
def test_bad_input_is_exit_2_with_one_clear_message(live, capsys, argv, text):
    code, _, err = run(live, capsys, *argv)
    assert code == 2 and text in err


def test_a_refused_token_is_exit_2(live, tmp_path, capsys):
    code, _, err = run(live, capsys, "submit", write(tmp_path, TWO), token="nobody-0123456789abcdef")
    assert code == 2 and "unknown bearer token (HTTP 401)" in err
    code, _, err = run(live, capsys, "submit", write(tmp_path, TWO), token=OTHER)
    assert code == 2 and "may not submit for show 'demo'" in err


def test_an_unreachable_server_is_exit_1(capsys, tmp_path):
    with socket.socket() as s:  # nothing listens on a port we just let go of
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    parser = argparse.ArgumentParser()
    handlers = add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["status", "--server", f"http://127.0.0.1:{port}", "--token", DEMO])
    assert handlers["status"](args) == 1
    assert "cannot reach" in capsys.readouterr().err


def test_an_edl_with_a_mapping_and_a_dry_run(live, tmp_path, capsys):
    angles = {"by_index": {str(i): {"camera": camera(60 * i)} for i in range(1, 4)}}
    path = write(tmp_path, mapping(**angles), "mapping.yaml")
    code, out, _ = run(live, capsys, "submit", HERE / "dissolve_grades.edl", "--mapping", path, "--dry-run")
    assert code == 0 and "dry run" in out and "note: frame 1025: ANIM FIX NEEDED (red)" in out
    code, out, _ = run(live, capsys, "submit", HERE / "dissolve_grades.edl", "--mapping", path)
    assert code == 0 and "demo:cut010: submitted" in out


def test_cancel_then_watch_ends_with_exit_1_for_a_sequence_that_did_not_complete(live, tmp_path, capsys):
    run(live, capsys, "submit", write(tmp_path, TWO))
    code, out, _ = run(live, capsys, "cancel", "demo:sq010")
    assert code == 0 and "demo:sq010: cancelled" in out
    code, out, _ = run(live, capsys, "status", "demo:sq010", "--watch")
    assert code == 1 and "cancelled" in out


def test_the_sdk_reports_problems_with_field_paths(live):
    with Client(live.url, DEMO) as farm:
        with pytest.raises(ApiError) as e:
            farm.submit(json.loads(json.dumps(TWO)) | {"samples": 0})
    assert e.value.status == 422 and ("samples", "Input should be greater than or equal to 1") in e.value.problems


def test_the_sdk_watches_a_sequence_to_its_end(live):
    with Client(live.url, DEMO) as farm:
        sid = farm.submit(TWO).sequence_id
        farm.cancel(sid)
        kinds = [kind for kind, _ in farm.watch(sid, after=0)]
        assert kinds[-2:] == ["SequenceCancelled", "progress"]
        assert farm.shot(sid, "sh020").chunks[0].status.value == "queued"
        assert farm.cost(sid).cost_usd == 0


def test_a_previs_movie_is_proposed_then_accepted_with_a_mapping(tmp_path, capsys):
    movie = tmp_path / "previs.mp4"
    movie.write_bytes(encode(frames(Plan(lengths=(30, 25, 40), dissolves=(0, 12)))))
    angles = {"by_index": {"1": {"camera": camera(60)}, "2": {"camera": camera(120)}}}
    path = write(tmp_path, mapping(sequence="previs", **angles), "mapping.yaml")
    (tmp_path / "farm").mkdir()
    with local_server(tmp_path / "farm", previs=True) as live:
        code, out, _ = run(live, capsys, "submit", movie, "--show", "demo", "--dry-run")
        assert code == 0 and "3 shots" in out and "dissolve at frame 55 (12 frames)" in out and "accept it with" in out
        code, out, _ = run(live, capsys, "submit", movie, "--mapping", path)
        assert code == 0 and "demo:previs: submitted" in out
