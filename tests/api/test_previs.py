"""Previs movies: cuts detected by the PrevisNode (in a thread here, as a Ray actor below), shots accepted."""

from __future__ import annotations

import pytest
import ray

from nodes.actors.previs import PrevisOrder, start_previs_node
from nodes.storage import open_store
from tests.api.support import OTHER, local_server
from tests.pipelines.editorial.support import camera, mapping
from tests.pipelines.editorial.synthetic import Plan, encode, frames

PLAN = Plan(lengths=(30, 25, 40, 30), dissolves=(0, 12, 0))
ANGLES = {"by_index": {"1": {"camera": camera(60)}, "2": {"camera": camera(120)}, "3": {"camera": camera(200)}}}


@pytest.fixture(scope="module")
def movie() -> bytes:
    return encode(frames(PLAN))


def test_a_movie_is_proposed_as_shots_and_accepted_as_a_sequence(tmp_path, movie):
    with local_server(tmp_path, previs=True) as live, live.client() as c:
        r = c.post("/v1/previs", files={"movie": ("previs.mp4", movie)}, data={"show": "demo"})
        assert r.status_code == 201, r.text
        found = r.json()
        transitions = found["proposal"]["transitions"]
        assert [t["kind"] for t in transitions] == ["cut", "dissolve", "cut"]
        assert all(abs(t["frame"] - f) <= 1 for t, f in zip(transitions, PLAN.cut_frames))
        assert c.get(f"/v1/previs/demo/{found['previs_id']}").json()["frames"] == sum(PLAN.lengths)
        accepted = c.post(found["accept_url"], json=mapping(sequence="previs", **ANGLES))
        assert accepted.status_code == 201, accepted.text
        shots = c.get("/v1/sequences/demo:previs/shots").json()
    assert [s["name"] for s in shots] == ["sh010", "sh020", "sh030", "sh040"]
    assert shots[2]["dissolve"] == transitions[1]["length"]


def test_a_movie_that_is_not_one_is_422_naming_it(tmp_path):
    with local_server(tmp_path, previs=True) as live, live.client() as c:
        r = c.post("/v1/previs", files={"movie": ("notes.mov", b"not a movie")}, data={"show": "demo"})
    assert r.status_code == 422 and r.json()["error"] == "notes.mov: invalid"


def test_proposals_belong_to_their_show(tmp_path, movie):
    with local_server(tmp_path, previs=True) as live, live.client() as c:
        found = c.post("/v1/previs", files={"movie": ("p.mp4", movie)}, data={"show": "demo"}).json()
        wrong_show = c.post(found["accept_url"], json=mapping(show="other"))
        with live.client(OTHER) as o:
            hidden = o.get(f"/v1/previs/demo/{found['previs_id']}")
            refused = o.post("/v1/previs", files={"movie": ("p.mp4", movie)}, data={"show": "demo"})
    assert wrong_show.status_code == 422 and wrong_show.json()["problems"][0]["path"] == "show"
    assert hidden.status_code == 404 and refused.status_code == 403


@pytest.mark.ray
def test_the_previs_node_reads_the_movie_from_the_store_as_a_ray_actor(ray_session, tmp_path, movie):
    store = open_store(str(tmp_path))
    store.put("demo/_previs/abc/movie.mp4", movie)
    node = start_previs_node(str(tmp_path), timeout=60)
    try:
        proposal = ray.get(node.propose.remote(PrevisOrder(key="demo/_previs/abc/movie.mp4", name="p.mp4")), timeout=120)
    finally:
        ray.kill(node)
    assert [abs(t.frame - f) <= 1 for t, f in zip(proposal.transitions, PLAN.cut_frames)] == [True] * 3
    assert len(proposal.cut.clips) == 4
