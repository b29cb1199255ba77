"""Cut lists over the API: .otio and .edl uploads with a scene mapping become sequences."""

from __future__ import annotations

import json

import yaml

from tests.api.support import DEMO
from tests.pipelines.editorial.support import HERE, camera, mapping, sample_timeline

EDL = HERE / "dissolve_grades.edl"
ANGLES = {"by_index": {"1": {"camera": camera(60)}, "2": {"camera": camera(120)}, "3": {"camera": camera(200)}}}


def upload(client, path, data_mapping, **fields):
    files = {"cut": (path.name, path.read_bytes(), "application/octet-stream")}
    text = data_mapping if isinstance(data_mapping, str) else json.dumps(data_mapping)
    return client.post("/v1/editorial", files=files, data={"mapping": text, **fields})


def test_an_edl_with_a_mapping_becomes_a_sequence_with_grades_dissolves_and_notes(live):
    with live.client() as c:
        r = upload(c, EDL, mapping(**ANGLES))
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["sequence_id"] == "demo:cut010" and body["submitted"]["created"] is True
        shots = {s["name"]: s for s in c.get("/v1/sequences/demo:cut010/shots").json()}
    assert shots["sh020"]["dissolve"] == 8
    assert shots["sh010"]["grade"]["slope"] == [1.1, 1.0, 0.9]
    assert shots["sh010"]["notes"] == ["frame 1025: ANIM FIX NEEDED (red)"]
    assert any("runs 0 frame(s) before the cut" in w for w in body["warnings"])


def test_an_otio_upload_with_a_yaml_mapping(live):
    path = sample_timeline("simple_cut.otio")
    with live.client() as c:
        r = upload(c, path, yaml.safe_dump(mapping(sequence="simple", **ANGLES)))
    assert r.status_code == 201, r.text
    assert [s["clip"] for s in r.json()["shots"]] == ["Clip-001", "Clip-002", "Clip-003", "Clip-004"]


def test_a_dry_run_shows_the_sequence_and_submits_nothing(live):
    with live.client() as c:
        r = upload(c, EDL, mapping(**ANGLES), dry_run="true")
        assert r.status_code == 200 and r.json()["submitted"] is None
        assert r.json()["spec"]["shots"][0]["name"] == "sh010"
        assert c.get("/v1/sequences").json() == []


def test_a_bad_mapping_is_422_with_its_field_path(live):
    bad = mapping(by_name={"sh030": {"camera": {"keys": [{"frame": 0, "position": [0, 0, 0], "look_at": [0, 0, 0]}]}}})
    with live.client() as c:
        r = upload(c, EDL, bad)
    assert r.status_code == 422
    assert any(p["path"].startswith("by_name.sh030.camera.keys[0]") for p in r.json()["problems"]), r.json()


def test_a_file_that_is_no_cut_list_is_422_naming_it(live):
    with live.client() as c:
        r = upload(c, HERE / "not_an_edl.edl", mapping())
        unknown = c.post("/v1/editorial", files={"cut": ("cut.txt", b"x")}, data={"mapping": json.dumps(mapping())})
    assert r.status_code == 422 and r.json()["error"] == "not_an_edl.edl: invalid"
    assert unknown.status_code == 422 and "format=otio or format=edl" in unknown.json()["error"]


def test_a_mapping_for_another_show_is_403(live):
    with live.client() as c:
        r = upload(c, EDL, mapping(show="other"))
    assert r.status_code == 403


def test_the_import_record_is_kept_beside_the_sequence(live):
    with live.client(DEMO) as c:
        upload(c, EDL, mapping(**ANGLES))
    record = json.loads((live.out / "demo/cut010/editorial/import.json").read_text())
    assert record["source"] == EDL.name and [s["shot"] for s in record["shots"]][:2] == ["sh010", "sh020"]
