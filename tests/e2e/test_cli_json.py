"""`--output json`: one JSON document on stdout and nothing else there, with the exit codes of the text output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from orchestrator.interfaces.cli import main
from tests.builders import SID, shot, spec


def write(tmp_path, data, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def run_json(capsys, *argv):
    """The exit code, the one document on stdout (json.loads refuses anything beside it), and stderr."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, json.loads(out), err


def test_validate_prints_one_document_with_the_sequence_and_its_counts(tmp_path, capsys):
    path = write(tmp_path, spec())
    code, doc, err = run_json(capsys, "validate", path, "--output", "json")
    assert code == 0 and err == ""
    assert doc == {"ok": True, "file": str(path), "sequence_id": SID, "shots": 2, "frames": 12, "fps": "24", "problems": []}


def test_a_bad_spec_is_exit_2_with_every_problem_in_the_document(tmp_path, capsys):
    bad = spec(shot("sh010", -8, 10, lens="50mm"))
    path = write(tmp_path, bad)
    code, doc, err = run_json(capsys, "validate", path, "--output", "json")
    assert code == 2 and doc["ok"] is False and doc["file"] == str(path)
    fields = {p["field"] for p in doc["problems"]}
    assert {"shots[0].lens", "shots[0].frames.first"} <= fields
    assert "shots[0].lens: unknown field" in err  # the human message still goes to stderr


def test_an_unparsable_file_is_exit_2_and_a_document(tmp_path, capsys):
    code, doc, _ = run_json(capsys, "validate", write(tmp_path, "show: [oops\n"), "--output", "json")
    assert code == 2 and doc["ok"] is False and "cannot parse at line 2" in doc["problems"][0]["message"]


def test_a_missing_file_is_exit_2_and_a_document(tmp_path, capsys):
    code, doc, _ = run_json(capsys, "validate", tmp_path / "nope.yaml", "--output", "json")
    assert code == 2 and "file not found" in doc["problems"][0]["message"]


def test_render_refuses_a_bad_spec_as_a_document_before_any_work(tmp_path, capsys):
    path = write(tmp_path, spec(shot("sh010", 1001, 10**12)))
    code, doc, _ = run_json(capsys, "render", path, "--out", tmp_path / "out", "--output", "json")
    assert code == 2 and doc["problems"][0]["field"] == "shots[0].frames.last"
    assert not (tmp_path / "out").exists()


def test_quote_prints_one_document_priced_per_class(tmp_path, capsys):
    code, doc, _ = run_json(capsys, "quote", write(tmp_path, spec()), "--calibrate", "0", "--cpus", "2", "--output", "json")
    assert code == 0 and doc["sequence_id"] == SID
    assert doc["chunks"] >= 2 and doc["basis"].startswith("prior")
    assert set(doc["by_class"]) == {"cpu"}
    assert doc["usd"] == pytest.approx(doc["by_class"]["cpu"]["usd"])
    assert doc["node_seconds"] == pytest.approx(doc["by_class"]["cpu"]["node_seconds"])
    assert 0 < doc["wall_seconds"] <= doc["node_seconds"]


def test_quote_for_a_farm_that_cannot_run_the_spec_is_exit_2_and_a_document(tmp_path, capsys):
    farm = write(tmp_path, {"classes": [{"name": "tiny", "count": 1, "usd_per_hour": 1.0, "max_pixels": 16 * 16}]}, "farm.yaml")
    code = main(["quote", str(write(tmp_path, spec())), "--farm", str(farm), "--calibrate", "0", "--output", "json"])
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in out + err
    doc = json.loads(out)
    assert doc["ok"] is False and doc["problems"][0]["message"] in err


@pytest.mark.ray
@pytest.mark.slow
def test_render_prints_one_summary_document_that_matches_the_output_folder(ray_session, tmp_path, capsys):
    out = tmp_path / "out"
    code, doc, err = run_json(
        capsys, "render", write(tmp_path, spec(shot("sh010", 1001, 1004))), "--out", out, "--chunk-frames", "2",
        "--resolution", "32x18", "--samples", "1", "--output", "json",
    )
    assert code == 0 and doc["sequence_id"] == SID and doc["status"] == "completed"
    assert doc["frames_rendered"] == doc["frames_total"] == 4 and doc["master_frames"] == 4
    assert doc["chunks_rendered"] == doc["chunks_total"] == 2
    assert doc["store"] == str(out) and doc["wall_seconds"] > 0
    assert doc["predicted"]["chunks"] == 2 and doc["predicted"]["usd"] > 0
    for path in [*doc["master"], doc["contact_sheet"], *doc["deliverables"].values()]:
        assert Path(path).is_file(), path
    assert "frames" in err  # the progress still shows, on stderr


def test_quote_reads_a_log_that_holds_a_set_aside_sequence(tmp_path, capsys):
    from orchestrator.core import events as ev
    from orchestrator.eventlog.sqlite import LOG_NAME, SqliteEventLog

    damaged = spec()
    damaged["scenes"]["set"]["objects"][1]["radius"] = None  # what an older release logged for NaN
    (tmp_path / "out").mkdir()
    log = SqliteEventLog(tmp_path / "out" / LOG_NAME)
    log.append(ev.SequenceSubmitted(at=1.0, sequence_id=SID, spec=damaged, spec_digest="old"))
    log.close()
    other = write(tmp_path, spec(show="other"))
    code, doc, _ = run_json(capsys, "quote", other, "--out", tmp_path / "out", "--calibrate", "0", "--output", "json")
    assert code == 0 and doc["sequence_id"] == "other:sq010"
