"""`shotfarm status --output json` against a live server: one document on stdout, the exit codes of the table."""

from __future__ import annotations

import json

import yaml

from orchestrator.interfaces.cli import main
from tests.api.support import DEMO
from tests.builders import SID, shot, spec

TWO = spec(shot("sh010", 1001, 1008), shot("sh020", 1009, 1012, angle=60))


def status_json(capsys, *argv):
    code = main(["status", *map(str, argv), "--output", "json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, json.loads(out), err


def submitted(live, tmp_path, capsys):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(TWO))
    assert main(["submit", str(path), "--server", live.url, "--token", DEMO]) == 0
    capsys.readouterr()


def test_status_lists_every_sequence_as_one_document(live, tmp_path, capsys):
    code, doc, _ = status_json(capsys, "--server", live.url, "--token", DEMO)
    assert code == 0 and doc == {"sequences": []}
    submitted(live, tmp_path, capsys)
    code, doc, _ = status_json(capsys, "--server", live.url, "--token", DEMO)
    assert code == 0 and [s["sequence_id"] for s in doc["sequences"]] == [SID]
    assert doc["sequences"][0]["status"] == "rendering"


def test_status_of_one_sequence_carries_its_shots_and_cuts(live, tmp_path, capsys):
    submitted(live, tmp_path, capsys)
    code, doc, _ = status_json(capsys, SID, "--server", live.url, "--token", DEMO)
    assert code == 0 and doc["sequence_id"] == SID
    assert [s["name"] for s in doc["shots"]] == ["sh010", "sh020"]
    assert [c["name"] for c in doc["cuts"]] == ["sh010>sh020"]


def test_an_unknown_sequence_is_exit_2_and_a_document(live, capsys):
    code, doc, err = status_json(capsys, "demo:nope", "--server", live.url, "--token", DEMO)
    assert code == 2 and doc["ok"] is False and doc["problems"][0]["message"] in err


def test_a_malformed_id_is_exit_2_and_a_document(capsys):
    code, doc, _ = status_json(capsys, "not an id", "--server", "http://127.0.0.1:9", "--token", DEMO)
    assert code == 2 and "is not a sequence id" in doc["problems"][0]["message"]


def test_an_unreachable_server_is_exit_1_and_a_document(capsys):
    code, doc, err = status_json(capsys, "--server", "http://127.0.0.1:9", "--token", DEMO)
    assert code == 1 and doc["ok"] is False and "127.0.0.1:9" in err
