"""Fifty submissions at once, through the API to the coordinator actor: none lost, none doubled."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
import ray

from orchestrator.api.farm import RayFarm
from orchestrator.config.settings import FarmSettings
from orchestrator.coordinator.actor import CoordinatorActor
from orchestrator.interfaces.embedded import LOG_NAME
from tests.api.support import DEMO, bearer, build_app, serving
from tests.builders import shot, spec

pytestmark = pytest.mark.ray
N = 50


@pytest.fixture
def farm(ray_session, tmp_path):
    """A coordinator actor with no nodes: submissions are logged and planned, nothing renders."""
    coordinator = (
        ray.remote(CoordinatorActor)
        .options(num_cpus=0, max_concurrency=64)
        .remote(str(tmp_path / LOG_NAME), str(tmp_path), FarmSettings())
    )
    app = build_app(tmp_path, RayFarm(coordinator, timeout=120))
    try:
        with serving(app) as url:
            yield url, coordinator
    finally:
        ray.get(coordinator.shutdown.remote(), timeout=60)
        ray.kill(coordinator)


def body(n: int) -> dict:
    return spec(shot("sh010", 1001, 1008), shot("sh020", 1009, 1012, angle=60)) | {"sequence": f"sq{n:03d}"}


async def post_all(url: str, bodies: list[dict]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=N)
    async with httpx.AsyncClient(base_url=url, headers=bearer(DEMO), timeout=120, limits=limits) as client:
        return await asyncio.gather(*(client.post("/v1/sequences", json=b) for b in bodies))


def submitted(coordinator) -> Counter:
    events = ray.get(coordinator.events.remote(0, None, 100_000), timeout=60)
    return Counter(e["sequence_id"] for _, e in events if e["type"] == "SequenceSubmitted")


def test_fifty_concurrent_submissions_are_all_accepted_and_logged_exactly_once(farm):
    url, coordinator = farm
    responses = asyncio.run(post_all(url, [body(n) for n in range(N)]))
    assert [r.status_code for r in responses] == [201] * N
    expected = {f"demo:sq{n:03d}" for n in range(N)}
    assert {r.json()["sequence_id"] for r in responses} == expected
    assert submitted(coordinator) == Counter({sid: 1 for sid in expected})
    with httpx.Client(base_url=url, headers=bearer(DEMO)) as c:
        assert {s["sequence_id"] for s in c.get("/v1/sequences").json()} == expected


def test_fifty_concurrent_copies_of_one_spec_make_one_sequence(farm):
    url, coordinator = farm
    responses = asyncio.run(post_all(url, [body(7)] * N))
    assert {r.status_code for r in responses} <= {200, 201}
    assert {r.json()["sequence_id"] for r in responses} == {"demo:sq007"}
    assert submitted(coordinator) == Counter({"demo:sq007": 1})
