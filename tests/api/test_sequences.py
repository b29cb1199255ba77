"""Submitting specs as JSON or YAML, and what the sequence, shot, chunk, cut and cost views say."""

from __future__ import annotations

import json

import httpx
import pytest
import yaml

from tests.api.support import local_server
from tests.builders import shot, spec

TWO = spec(shot("sh010", 1001, 1008), shot("sh020", 1009, 1012, angle=60))
YAML = {"Content-Type": "application/yaml"}


def test_a_json_spec_is_accepted_and_the_same_spec_again_resumes_it(live):
    with live.client() as c:
        first = c.post("/v1/sequences", json=TWO)
        again = c.post("/v1/sequences", json=TWO)
    assert first.status_code == 201 and first.json()["created"] is True
    assert again.status_code == 200 and again.json()["created"] is False
    assert first.json()["sequence_id"] == again.json()["sequence_id"] == "demo:sq010"


def test_a_yaml_spec_is_accepted(live):
    with live.client() as c:
        r = c.post("/v1/sequences", content=yaml.safe_dump(TWO), headers=YAML)
        assert r.status_code == 201
        assert c.get(r.json()["url"]).json()["shots"] == 2


def test_a_changed_spec_under_the_same_id_is_409(live):
    changed = spec(shot("sh010", 1001, 1010), shot("sh020", 1011, 1012, angle=60))
    with live.client() as c:
        c.post("/v1/sequences", json=TWO)
        r = c.post("/v1/sequences", json=changed)
    assert r.status_code == 409 and "different spec" in r.json()["error"]


MALFORMED = {
    "negative frame": ({**TWO, "shots": [shot("sh010", -5, 3)]}, "shots[0].frames.first"),
    "unknown field": ({**TWO, "lens": "50mm"}, "lens"),
    "missing scenes": ({k: v for k, v in TWO.items() if k != "scenes"}, "scenes"),
    "undefined scene": ({**TWO, "shots": [shot("sh010", 1, 3, scene="nowhere")]}, ""),
    "bad fps": ({**TWO, "fps": "fast"}, "fps"),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_spec_is_422_with_the_field_path(live, name):
    body, path = MALFORMED[name]
    with live.client() as c:
        r = c.post("/v1/sequences", json=body)
    assert r.status_code == 422
    assert path in [p["path"] for p in r.json()["problems"]], r.json()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"show: [unclosed", "cannot parse at line"),
        (b"a: &x [1]\nb: *x\n", "aliases"),
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 32 levels deep"),
        (b"\xff\xfe", "not UTF-8"),
        (b"- just\n- a list\n", "expected a mapping"),
    ],
)
def test_unparseable_yaml_is_422_never_500(live, content, message):
    with live.client() as c:
        r = c.post("/v1/sequences", content=content, headers=YAML)
    assert r.status_code == 422 and message in json.dumps(r.json())


def test_other_content_types_are_415(live):
    with live.client() as c:
        r = c.post("/v1/sequences", content=b"show=demo", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415


def test_a_body_over_the_upload_limit_is_413_whether_or_not_its_length_is_declared(tmp_path):
    with local_server(tmp_path, upload_limit=2048) as server, server.client() as c:
        declared = c.post("/v1/sequences", content=b"x" * 4096, headers=YAML)
        chunked = c.post("/v1/sequences", content=iter([b"x" * 1024] * 4), headers=YAML)
        fine = c.post("/v1/sequences", content=b"[1]", headers=YAML)
    assert declared.status_code == chunked.status_code == 413
    assert "upload limit" in declared.json()["error"]
    assert fine.status_code == 422  # under the limit it is read (and is no spec)


def test_sequence_shot_chunk_and_cut_views(live):
    with live.client() as c:
        c.post("/v1/sequences", json=TWO)
        detail = c.get("/v1/sequences/demo:sq010").json()
        shots = c.get("/v1/sequences/demo:sq010/shots").json()
        one = c.get("/v1/sequences/demo:sq010/shots/sh020").json()
        chunks = c.get("/v1/sequences/demo:sq010/chunks").json()
        cuts = c.get("/v1/sequences/demo:sq010/cuts").json()
        cut = c.get("/v1/sequences/demo:sq010/cuts/sh010%3Esh020").json()
    assert detail["status"] == "rendering" and detail["frames_total"] == 12 and detail["cuts"]["pending"] == 1
    assert [s["name"] for s in shots] == ["sh010", "sh020"] and shots[0]["status"] == "queued"
    assert one["frames"] == {"first": 1009, "last": 1012} and one["chunks"][0]["status"] == "queued"
    assert {ch["shot"] for ch in chunks} == {"sh010", "sh020"}
    assert cuts == [cut] and cut["left_frame"] == 1008 and cut["right_frame"] == 1009
    assert cut["left_thumbnail"] is None and "Not checked yet" in cut["explanation"]


def test_unknown_shots_cuts_and_frames_are_404(live):
    with live.client() as c:
        c.post("/v1/sequences", json=TWO)
        assert c.get("/v1/sequences/demo:sq010/shots/sh999").status_code == 404
        assert c.get("/v1/sequences/demo:sq010/cuts/sh020%3Esh010").status_code == 404
        assert c.get("/v1/sequences/demo:sq010/shots/sh010/frames/1001/preview.png").status_code == 404
        assert c.get("/v1/sequences/demo:sq010/master/frames/1001/preview.png").status_code == 404
        assert c.get("/v1/sequences/demo:sq010/contact-sheet.png").status_code == 404


def test_cancel_stops_a_sequence_once(live):
    with live.client() as c:
        c.post("/v1/sequences", json=TWO)
        first = c.post("/v1/sequences/demo:sq010/cancel")
        again = c.post("/v1/sequences/demo:sq010/cancel")
    assert first.status_code == 202 and first.json()["status"] == "cancelled"
    assert again.status_code == 409 and "already cancelled" in again.json()["error"]


def test_rerender_makes_a_new_version_of_the_shot(live):
    with live.client() as c:
        c.post("/v1/sequences", json=TWO)
        r = c.post("/v1/sequences/demo:sq010/shots/sh020/rerender")
        assert r.status_code == 202 and r.json()["version"] == 2
        assert c.get("/v1/sequences/demo:sq010/shots/sh010").json()["version"] == 1


def test_cost_so_far_is_broken_down_by_shot(live):
    with live.client() as c:
        c.post("/v1/sequences", json=TWO)
        cost = c.get("/v1/sequences/demo:sq010/cost").json()
    assert cost["cost_usd"] == 0 and set(cost["by_shot"]) == {"sh010", "sh020"}


TRAVERSALS = [
    "/v1/sequences/..%2F..%2Fetc",
    "/v1/sequences/demo:..",
    "/v1/sequences/demo%2F..:x",
    "/v1/sequences/.demo:sq010",
    "/v1/sequences/demo:sq010/shots/%2E%2E",
    "/v1/sequences/demo:sq010/shots/..%2F..%2Fmaster/frames/1/preview.png",
    "/v1/sequences/demo:sq010/shots/sh010/frames/-1/preview.png",
    "/v1/sequences/demo:sq010/cuts/..%3E..",
    "/v1/previs/demo/..%2F..%2Fshotfarm.db",
    "/v1/previs/demo/0123456789abcdeg",
    "/static/..%2F..%2Fserver.py",
    "/v1/sequences/" + "a" * 70 + ":b",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_ids_that_are_not_ids_never_reach_the_store(live, path):
    with live.client() as c:
        c.post("/v1/sequences", json=TWO)
        r = c.get(path)
    assert r.status_code in (404, 422), r.text
    assert "Traceback" not in r.text


def test_the_openapi_document_describes_every_route_and_the_spec(live):
    with httpx.Client(base_url=live.url) as c:
        schema = c.get("/openapi.json").json()
    assert "/v1/sequences" in schema["paths"] and "/v1/editorial" in schema["paths"] and "/metrics" in schema["paths"]
    assert "Sequence" in schema["components"]["schemas"]
    body = schema["paths"]["/v1/sequences"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "application/yaml"}


def test_the_health_check_needs_no_token(live):
    with httpx.Client(base_url=live.url) as c:
        assert c.get("/healthz").json()["ok"] is True
