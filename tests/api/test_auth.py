"""Bearer tokens scoped to shows: no token, no answer; another show's sequences do not exist."""

from __future__ import annotations

import hashlib
import logging

import pytest

from orchestrator.api import auth
from orchestrator.api.auth import TokenConfigError, TokenTable
from tests.api.support import ADMIN, DEMO, OTHER
from tests.builders import shot, spec


def table(env: str = "", file=None) -> TokenTable:
    return TokenTable.load(file, {"SHOTFARM_TOKENS": env})


def submit(live, show="demo", sequence="sq010", token=DEMO):
    body = spec(shot("sh010", 1001, 1008), shot("sh020", 1009, 1012, angle=60)) | {"show": show, "sequence": sequence}
    with live.client(token) as c:
        return c.post("/v1/sequences", json=body)


def test_environment_tokens_scope_to_their_shows_and_star_is_admin():
    t = table(f"{DEMO}=demo,promo;{ADMIN}=*")
    demo, admin = t.authenticate(DEMO), t.authenticate(ADMIN)
    assert demo.shows == {"demo", "promo"} and not demo.admin and demo.may_see("promo") and not demo.may_see("x")
    assert admin.admin and admin.may_see("anything")
    assert t.authenticate("wrong-token-0123456789abcdef") is None


def test_a_tokens_file_may_hold_digests_instead_of_tokens(tmp_path):
    path = tmp_path / "tokens.yaml"
    digest = hashlib.sha256(OTHER.encode()).hexdigest()
    path.write_text(f"tokens:\n  - {{name: ops, sha256: {digest}, shows: ['*']}}\n  - {{token: {DEMO}, shows: [demo]}}\n")
    t = table(file=path)
    assert t.authenticate(OTHER).name == "ops" and t.authenticate(OTHER).admin
    assert t.authenticate(DEMO).shows == {"demo"}


@pytest.mark.parametrize(
    "env, text",
    [
        ("", "no API tokens"),
        ("short=demo", "entry 1: token"),
        (f"{DEMO}", "entry 1 must look like"),
        (f"{DEMO}=bad show", "not show names"),
        (f"{DEMO}=demo;{DEMO}=other", "configured twice"),
    ],
)
def test_bad_token_configuration_is_refused_without_echoing_a_token(env, text):
    with pytest.raises(TokenConfigError) as e:
        table(env)
    assert text in str(e.value)
    assert DEMO not in str(e.value) and "short" not in str(e.value).split(":")[-1]


def test_a_bad_tokens_file_is_named(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text('{"tokens": [{"shows": ["demo"]}]}')
    with pytest.raises(TokenConfigError, match="tokens.json"):
        table(file=path)


def test_every_entry_is_compared_whatever_matches(monkeypatch):
    calls = []

    def counting(a, b):
        calls.append(1)
        return a == b

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    t = table(f"{DEMO}=demo;{OTHER}=other;{ADMIN}=*")
    for token in (DEMO, ADMIN, "nobody-0123456789abcdef"):
        calls.clear()
        t.authenticate(token)
        assert len(calls) == 3


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic dXNlcjpwdw=="}])
def test_no_bearer_token_is_401_with_a_challenge(live, headers):
    with live.client(None) as c:
        r = c.get("/v1/sequences", headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")


def test_an_unknown_token_is_401(live):
    with live.client("nobody-0123456789abcdef") as c:
        assert c.get("/v1/sequences").status_code == 401


PATHS = ["", "/shots", "/chunks", "/cuts", "/cost", "/shots/sh010", "/cuts/sh010>sh020", "/events",
         "/shots/sh010/frames/1001/preview.png"]


@pytest.mark.parametrize("path", PATHS)
def test_another_shows_sequence_answers_exactly_like_one_that_does_not_exist(live, path):
    assert submit(live).status_code == 201
    with live.client(OTHER) as c:
        theirs = c.get(f"/v1/sequences/demo:sq010{path}")
        missing = c.get(f"/v1/sequences/demo:nothing{path}")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert "sq010" not in theirs.text


def test_actions_on_another_shows_sequence_are_404_and_change_nothing(live):
    submit(live)
    with live.client(OTHER) as c:
        assert c.post("/v1/sequences/demo:sq010/cancel").status_code == 404
        assert c.post("/v1/sequences/demo:sq010/shots/sh010/rerender").status_code == 404
    with live.client(DEMO) as c:
        assert c.get("/v1/sequences/demo:sq010").json()["status"] == "rendering"


def test_lists_show_only_the_tokens_shows_and_admin_sees_all(live):
    submit(live)
    submit(live, show="other", sequence="sq020", token=OTHER)
    with live.client(DEMO) as c:
        assert [s["sequence_id"] for s in c.get("/v1/sequences").json()] == ["demo:sq010"]
    with live.client(OTHER) as c:
        assert [s["sequence_id"] for s in c.get("/v1/sequences").json()] == ["other:sq020"]
    with live.client(ADMIN) as c:
        assert {s["sequence_id"] for s in c.get("/v1/sequences").json()} == {"demo:sq010", "other:sq020"}


def test_submitting_for_a_show_outside_the_tokens_scope_is_403(live):
    r = submit(live, show="other", token=DEMO)
    assert r.status_code == 403 and "other" in r.json()["error"]


def test_metrics_need_an_admin_token(live):
    with live.client(DEMO) as c:
        assert c.get("/metrics").status_code == 403
    with live.client(ADMIN) as c:
        assert c.get("/metrics").status_code == 200


def test_tokens_never_reach_the_logs(live, caplog):
    caplog.set_level(logging.DEBUG)
    submit(live)
    with live.client("wrong-token-0123456789abcdef") as c:
        c.get("/v1/sequences")
    with live.client(DEMO) as c:
        c.get("/v1/sequences/demo:sq010")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert DEMO not in logged and "wrong-token" not in logged
