"""One show's hostile request cannot hurt the farm: 4xx with the field path, nothing stored, every other show served.

And a record the farm cannot fold (as an older release wrote for a NaN
radius) sets aside only its own sequence: /healthz says degraded, other
shows submit as before, and an operator retires it through the API.
"""

from __future__ import annotations

import json
import logging

import httpx
import opentimelineio as otio
import pytest

from orchestrator.api.access_log import RedactSecrets, redact
from orchestrator.core import events as ev
from orchestrator.eventlog.sqlite import SqliteEventLog
from orchestrator.interfaces.embedded import LOG_NAME
from pipelines.spec import limits
from tests.api.support import ADMIN, OTHER, local_server
from tests.builders import SID, shot, spec

JSON = {"Content-Type": "application/json"}
YAML = {"Content-Type": "application/yaml"}


def position(c: httpx.Client) -> int:
    return c.get("/healthz").json()["log_position"]


def nan_radius() -> str:
    data = spec()
    data["scenes"]["set"]["objects"][1]["radius"] = float("nan")
    return json.dumps(data)  # Python writes NaN, as a hostile client may


def deep(n: int) -> str:
    return json.dumps(spec()).replace('"subject": "orb"', '"subject": ' + "[" * n + "]" * n)


HOSTILE = {
    "NaN radius": (nan_radius(), JSON, "scenes.set.objects[1].radius"),
    "Infinity position": (json.dumps(spec()).replace('"look_at": [0, 1, 0]', '"look_at": [Infinity, 1, 0]'), JSON, "shots[0].camera.keys[0].look_at[0]"),
    ".nan in YAML": ("show: demo\nsequence: s\nsamples: .nan\n", YAML, "samples"),
    "a trillion frames": (json.dumps(spec(shot("sh010", 1001, 1_000_000_000_000))), JSON, "shots[0].frames.last"),
    "odd resolution": (json.dumps(spec(resolution=[16, 9])), JSON, "resolution[1]"),
    "boolean samples": (json.dumps(spec(samples=True)), JSON, "samples"),
    "50,000 levels": (deep(50_000), JSON, ""),
    "deep YAML": ("a: " + "[" * 5000 + "]" * 5000, YAML, ""),
    "key given twice": ('{"show": "demo", "show": "x"}', JSON, ""),
    "long free text": (json.dumps(spec(shot("sh010", 1001, 1008, continuity={"location": "x" * 100_000}))), JSON, "shots[0].continuity.location"),
    "a million items": (json.dumps({"shots": [0] * 1_000_000}), JSON, "shots"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_spec_is_4xx_with_its_path_and_nothing_is_stored(tmp_path, case):
    body, headers, path = HOSTILE[case]
    with local_server(tmp_path) as live, live.client() as c:
        before = position(c)
        r = c.post("/v1/sequences", content=body.encode(), headers=headers)
        assert 400 <= r.status_code < 500, r.text[:500]
        assert len(r.content) < 20_000
        assert r.json()["problems"][0]["path"] == path, r.text[:500]
        assert position(c) == before
        assert c.get("/healthz").json()["status"] == "ok"
        assert c.post("/v1/sequences", json=spec()).status_code == 201  # the farm still takes work


def test_a_spec_over_the_document_limit_is_413(tmp_path):
    with local_server(tmp_path) as live, live.client() as c:
        r = c.post("/v1/sequences", content=b" " * (limits.MAX_DOCUMENT_BYTES + 1), headers=YAML)
    assert r.status_code == 413 and "over the limit" in r.json()["problems"][0]["message"]


def test_a_spec_streamed_without_a_length_is_cut_off_at_the_document_limit(tmp_path):
    def chunks():
        for _ in range(limits.MAX_DOCUMENT_BYTES // 65536 + 2):
            yield b" " * 65536

    with local_server(tmp_path) as live, live.client() as c:
        r = c.post("/v1/sequences", content=chunks(), headers=YAML)
        assert r.status_code == 413 and "over the limit" in r.json()["problems"][0]["message"]
        assert c.get("/healthz").json()["status"] == "ok"


def test_a_deep_otio_cut_is_422_and_the_server_lives(tmp_path):
    track = otio.schema.Track(name="V1")
    track.append(otio.schema.Clip(name="a", source_range=otio.opentime.range_from_start_end_time(
        otio.opentime.RationalTime(0, 24), otio.opentime.RationalTime(12, 24))))
    doc = json.loads(otio.adapters.write_to_string(otio.schema.Timeline(tracks=[track]), "otio_json"))
    doc["metadata"] = {"deep": "X"}
    text = json.dumps(doc).replace('"X"', "[" * 50_000 + "]" * 50_000)
    from tests.pipelines.editorial.support import mapping

    with local_server(tmp_path) as live, live.client() as c:
        r = c.post("/v1/editorial", files={"cut": ("deep.otio", text.encode())}, data={"mapping": json.dumps(mapping())})
        assert r.status_code == 422 and "nested more than" in r.text
        assert c.get("/healthz").status_code == 200


def test_a_nan_time_in_an_otio_cut_is_422_not_500(tmp_path):
    track = otio.schema.Track(name="V1")
    track.append(otio.schema.Clip(name="a", source_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(0, 24), otio.opentime.RationalTime(float("nan"), 24))))
    text = otio.adapters.write_to_string(otio.schema.Timeline(tracks=[track]), "otio_json")
    from tests.pipelines.editorial.support import mapping

    with local_server(tmp_path) as live, live.client() as c:
        r = c.post("/v1/editorial", files={"cut": ("nan.otio", text.encode())}, data={"mapping": json.dumps(mapping())})
    assert r.status_code == 422, r.text


@pytest.mark.parametrize(
    "url, headers",
    [
        ("/v1/events?after=" + "9" * 40, {}),
        ("/v1/events?after=-1", {}),
        ("/v1/sequences/demo:sq010/shots/sh010/frames/99999999999/preview.png", {}),
        ("/v1/sequences/demo:sq010/shots/sh010/frames/1001/preview.png?exposure=nan", {}),
        ("/v1/sequences/" + "a" * 5000 + ":b", {}),
    ],
)
def test_hostile_query_and_path_values_are_4xx(tmp_path, url, headers):
    with local_server(tmp_path) as live, live.client() as c:
        assert 400 <= c.get(url, headers=headers).status_code < 500


def test_a_huge_last_event_id_is_not_a_500(tmp_path):
    with local_server(tmp_path) as live, live.client() as c:
        c.post("/v1/sequences", json=spec())
        with c.stream("GET", f"/v1/sequences/{SID}/events", headers={"Last-Event-ID": "9" * 5000}) as r:
            assert r.status_code == 200
            next(r.iter_lines())


def test_a_refused_previs_upload_leaves_nothing_in_the_store(tmp_path):
    with local_server(tmp_path, previs=True) as live, live.client() as c:
        r = c.post("/v1/previs", files={"movie": ("notes.mov", b"not a movie")}, data={"show": "demo"})
    assert r.status_code == 422
    assert not [p for p in (tmp_path / "demo" / "_previs").rglob("*") if p.is_file()]


def test_tokens_in_a_url_are_redacted_from_the_access_log():
    assert redact("/v1/events?after=3&token=abc123&x=1") == "/v1/events?after=3&token=REDACTED&x=1"
    assert redact("/?access_token=s3cr3t") == "/?access_token=REDACTED"
    assert redact("/v1/events?after=3") == "/v1/events?after=3"
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d', ("127.0.0.1:1", "GET", "/?api_key=k", "1.1", 401), None)
    RedactSecrets().filter(record)
    assert "k" not in record.getMessage().split("api_key=")[1].split('"')[0].replace("REDACTED", "")


# -- a record the farm cannot fold ---------------------------------------------


def poison(out) -> None:
    """Append, as an older release did, a submission whose NaN radius was logged as null."""
    data = spec()
    data["scenes"]["set"]["objects"][1]["radius"] = None
    log = SqliteEventLog(out / LOG_NAME)
    log.append(ev.SequenceSubmitted(at=1.0, sequence_id=SID, spec=data, spec_digest="old"))
    log.close()


def test_an_unfoldable_record_degrades_health_and_costs_only_its_sequence(tmp_path):
    poison(tmp_path)
    with local_server(tmp_path) as live, live.client() as c, live.client(OTHER) as o:
        health = c.get("/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "degraded" and health.json()["ok"] is False
        [aside] = health.json()["unfoldable"]
        assert (aside["sequence_id"], aside["seq"], aside["record_type"]) == (SID, 1, "SequenceSubmitted")
        other = o.post("/v1/sequences", json=spec(show="other"))
        assert other.status_code == 201, other.text
        again = c.post("/v1/sequences", json=spec())
        assert again.status_code == 409 and "set aside" in again.json()["error"]


def test_an_operator_retires_a_set_aside_sequence_and_its_id_is_free_again(tmp_path):
    poison(tmp_path)
    with local_server(tmp_path) as live, live.client() as c, live.client(OTHER) as o:
        assert o.post(f"/v1/sequences/{SID}/retire", json={"reason": "x"}).status_code == 404  # not its show
        assert c.post(f"/v1/sequences/{SID}/retire", json={"reason": ""}).status_code == 422
        r = c.post(f"/v1/sequences/{SID}/retire", json={"reason": "NaN radius from an older release"})
        assert r.status_code == 202, r.text
        assert c.get("/healthz").json()["status"] == "ok"
        assert c.post("/v1/sequences", json=spec()).status_code == 201
    retired = [e for _, e in SqliteEventLog(tmp_path / LOG_NAME).read() if isinstance(e, ev.SequenceRetired)]
    assert [(e.reason, e.by) for e in retired] == [("NaN radius from an older release", "SHOTFARM_TOKENS#1")]


def test_a_running_sequence_cannot_be_retired(tmp_path):
    with local_server(tmp_path) as live, live.client(ADMIN) as c:
        c.post("/v1/sequences", json=spec())
        r = c.post(f"/v1/sequences/{SID}/retire", json={"reason": "x"})
    assert r.status_code == 409 and "cancel it before retiring it" in r.json()["error"]


