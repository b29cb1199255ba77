"""Chaos on real `shotfarm render` runs: nothing lost, nothing rendered twice.

Each scenario injects real faults (SIGKILLs of the CLI and of render-node
processes, an S3 server that stops answering, a frame altered in the store)
into one run of a small sequence and compares the result, byte for byte, with
a clean run's master. The scenarios are bench/chaos.py's, run once each here;
every wait is bounded. Set SHOTFARM_CHAOS_SEED to replay a failing run.
"""

from __future__ import annotations

import os
import random

import pytest

from bench import chaos
from orchestrator.config.cost import PriceBook
from orchestrator.core import events as ev
from orchestrator.core.evolve import replay
from orchestrator.core.state import FarmState
from orchestrator.core.status import ChunkStatus
from orchestrator.eventlog.verify import verify
from orchestrator.projections.metrics import FarmMetrics, MetricNames
from tests.nodes.s3_fixtures import load_tier
from tests.pg_fixtures import create_database, database_url, drop_database

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
SEED = int(os.environ.get("SHOTFARM_CHAOS_SEED") or random.randrange(2**32))


def rng(scenario: str) -> random.Random:
    return random.Random(f"{SEED}:{scenario}")


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    return chaos.write_spec(tmp_path_factory.mktemp("chaos"))


@pytest.fixture(scope="module")
def clean(spec) -> chaos.Baseline:
    return chaos.clean_run(spec, spec.parent)


def settled(o: chaos.Outcome, clean: chaos.Baseline) -> None:
    """What every scenario must end with: a master identical to the clean run's, nothing lost or redone."""
    why = f"seed {SEED}: {o.notes}"
    assert o.completed, why
    assert o.differs == [], why  # byte for byte, every master file
    assert o.frames_lost == 0, why
    assert o.rerendered == 0, why
    state = replay(o.events)
    assert all(c.status is ChunkStatus.RENDERED for s in state.sequences.values() for c in s.chunks.values())


def test_orchestrator_sigkilled_at_five_random_moments_resumes_to_the_same_master(spec, clean, tmp_path):
    o = chaos.orchestrator_kills(spec, tmp_path, clean, rng("orchestrator"), kills=5)
    assert o.faults == 5, f"seed {SEED}: {o.notes}"
    settled(o, clean)
    # Each of the six coordinators recorded its pool before it was killed (or finished).
    assert sum(isinstance(e, ev.PoolStarted) for e in o.events) == 6
    assert verify(o.out / "shotfarm.db").ok


def test_orchestrator_sigkilled_on_a_postgresql_log_resumes_to_the_same_master(spec, clean, tmp_path):
    name = create_database()
    url = database_url(name)
    try:
        o = chaos.orchestrator_kills(spec, tmp_path, clean, rng("orchestrator-postgresql"), kills=3, log=url)
        assert o.faults == 3, f"seed {SEED}: {o.notes}"
        settled(o, clean)  # the clean run's log was SQLite: the master may not depend on where the log lives
        assert sum(isinstance(e, ev.PoolStarted) for e in o.events) == 4
        assert verify(url, str(o.out)).ok
    finally:
        drop_database(name)


def test_render_nodes_killed_mid_chunk_cost_retries_counted_in_events_and_metrics(spec, clean, tmp_path):
    o = chaos.render_node_kills(spec, tmp_path, clean, rng("render-node"), kills=2)
    assert o.faults == 2, f"seed {SEED}: {o.notes}"
    settled(o, clean)
    lost = [e for e in o.events if isinstance(e, ev.ChunkFailed)]
    assert len(lost) >= 2, "each killed node was rendering at least one chunk"
    assert all(e.retryable and e.error.startswith("node lost") for e in lost), [e.error for e in lost]
    # The same retries, as the farm's metrics count them, live and rebuilt after a restart.
    labels = {"show": "demo", "sequence": "chaos", "gpu_class": "cpu", "outcome": "retried"}
    live, state = FarmMetrics(PriceBook()), FarmState()
    for e in o.events:
        state = replay([e], state)
        live.observe(e, state)
    rebuilt = FarmMetrics(PriceBook())
    rebuilt.rebuild(state)
    for metrics in (live, rebuilt):
        assert metrics.registry.get_sample_value(MetricNames.CHUNKS, labels) == len(lost)


def test_an_s3_outage_of_ten_seconds_mid_render_loses_nothing(spec, clean, tmp_path, monkeypatch):
    tier = load_tier("moto")  # skipped without scripts/s3-servers.sh; a failure under CI
    s3 = chaos.S3Tier(tier.endpoint, tier.access_key, tier.secret_key)
    # Mid-render, so chunks meet the outage as they write. (Longest-first dispatch renders the costly
    # last shot before the first one is final, so an outage "while stitching" may find no chunk writing.)
    o = chaos.s3_outage(spec, tmp_path, clean, rng("s3"), s3, seconds=10.0, when="renders")
    assert o.faults == 1, f"seed {SEED}: {o.notes}"
    settled(o, clean)
    # The outage was real to the farm: writes failed, and the chunks were rendered again later.
    assert any(isinstance(e, ev.ChunkFailed) and "S3 unavailable" in e.error for e in o.events)
    for name, value in tier.env().items():
        monkeypatch.setenv(name, value)
    assert verify(o.out / "shotfarm.db", o.store_url).ok


def test_a_corrupted_stored_frame_is_caught_before_mastering_and_its_chunk_rendered_again(spec, clean, tmp_path):
    o = chaos.corrupt_frame(spec, tmp_path, clean, rng("corrupt"))
    assert o.faults == 1, f"seed {SEED}: {o.notes}"
    settled(o, clean)
    chunk_id, key = o.detail["chunk"], o.detail["key"]
    [invalidated] = [i for i, e in enumerate(o.events) if isinstance(e, ev.ChunkInvalidated)]
    assert o.events[invalidated].chunk_id == chunk_id and key in o.events[invalidated].reason
    accepted = replay(o.events).sequences["demo:chaos"].chunks[chunk_id]
    assert accepted.attempt == 2 and key not in {f.key for f in accepted.frames}
    # The segment that uses the frame was only ever built after the chunk was rendered again.
    built = [i for i, e in enumerate(o.events) if isinstance(e, ev.SegmentStitched) and e.segment == accepted.plan.shot]
    assert built and min(built) > invalidated
