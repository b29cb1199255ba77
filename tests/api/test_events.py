"""Server-sent events: every logged event of the caller's shows, in log order, resumable by id."""

from __future__ import annotations

import json
import threading

from tests.api.support import ADMIN, DEMO, OTHER
from tests.builders import shot, spec

TWO = spec(shot("sh010", 1001, 1008), shot("sh020", 1009, 1012, angle=60))


def read_events(response, until=None, most=200, lines=None):
    """(id, event, data) of each message until `until(event, data)` is true (or the stream ends)."""
    out, ident, kind, data = [], None, None, ""
    for line in lines or response.iter_lines():
        if line.startswith("id: "):
            ident = int(line[4:])
        elif line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data += line[6:]
        elif line == "" and kind:
            out.append((ident, kind, json.loads(data)))
            if (until and until(kind, out[-1][2])) or len(out) >= most:
                break
            ident, kind, data = None, None, ""
    return out


def test_a_sequences_stream_replays_its_events_and_ends_when_it_is_finished(live):
    with live.client() as c:
        c.post("/v1/sequences", json=TWO)
        c.post("/v1/sequences/demo:sq010/cancel")
        with c.stream("GET", "/v1/sequences/demo:sq010/events", params={"after": 0}) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            events = read_events(r)
    kinds = [k for _, k, _ in events]
    assert kinds == ["progress", "SequenceSubmitted", "ShotsPlanned", "SequenceCancelled", "progress"]
    ids = [i for i, k, _ in events if k != "progress"]
    assert ids == sorted(ids)
    assert events[-1][2]["status"] == "cancelled" and events[-1][2]["reason"] == "cancelled by user"
    assert "spec" not in events[1][2]  # bulky fields stay in the views


def test_last_event_id_resumes_after_what_was_seen(live):
    with live.client() as c:
        c.post("/v1/sequences", json=TWO)
        c.post("/v1/sequences/demo:sq010/cancel")
        with c.stream("GET", "/v1/sequences/demo:sq010/events", params={"after": 0}) as r:
            first = read_events(r)
        planned = next(i for i, k, _ in first if k == "ShotsPlanned")
        with c.stream("GET", "/v1/sequences/demo:sq010/events", headers={"Last-Event-ID": str(planned)}) as r:
            rest = read_events(r)
    assert [k for _, k, _ in rest] == ["progress", "SequenceCancelled", "progress"]


def test_live_events_arrive_while_the_stream_is_open(live):
    with live.client() as c:
        c.post("/v1/sequences", json=TWO)
        with c.stream("GET", "/v1/sequences/demo:sq010/events") as r:
            # The stream is open (its first progress event is read) before the cancel is sent.
            lines = r.iter_lines()
            assert next(lines).startswith("retry:")
            cancel = threading.Thread(target=lambda: live.client().post("/v1/sequences/demo:sq010/cancel"))
            cancel.start()
            events = read_events(r, lines=lines)
            cancel.join()
    assert [k for _, k, _ in events][-2:] == ["SequenceCancelled", "progress"]


def test_the_farm_wide_stream_carries_only_the_tokens_shows(live):
    with live.client(DEMO) as c:
        c.post("/v1/sequences", json=TWO)
    with live.client(OTHER) as c:
        c.post("/v1/sequences", json=TWO | {"show": "other"})
        c.post("/v1/sequences/other:sq010/cancel")

    def until_cancel(kind, data):
        return kind == "SequenceCancelled"

    with live.client(DEMO) as c, c.stream("GET", "/v1/events", params={"after": 0}) as r:
        with live.client(DEMO) as d:
            d.post("/v1/sequences/demo:sq010/cancel")
        seen = read_events(r, until=until_cancel)
    assert {d["sequence_id"] for _, k, d in seen} == {"demo:sq010"}
    with live.client(ADMIN) as c, c.stream("GET", "/v1/events", params={"after": 0}) as r:
        everything = read_events(r, until=lambda k, d: k == "SequenceCancelled" and d["sequence_id"] == "demo:sq010")
    assert {d["sequence_id"] for _, k, d in everything} == {"demo:sq010", "other:sq010"}


def test_streams_need_a_token_and_a_visible_sequence(live):
    with live.client(None) as c:
        assert c.get("/v1/events").status_code == 401
    with live.client(OTHER) as c:
        assert c.get("/v1/sequences/demo:sq010/events").status_code == 404
