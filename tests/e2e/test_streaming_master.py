"""The master streams: segments are built while later shots still render, and
re-rendering one shot rebuilds only its segment and the deliverables."""

from __future__ import annotations

import sqlite3

import pytest

from orchestrator.config.settings import FarmSettings
from orchestrator.interfaces.embedded import LOG_NAME, render
from tests.builders import sequence, shot

pytestmark = pytest.mark.ray


def trace(out) -> list[tuple[str, dict]]:
    import json

    db = sqlite3.connect(out / LOG_NAME)
    rows = [(t, json.loads(b)) for t, b in db.execute("SELECT type, body FROM events ORDER BY seq")]
    db.close()
    return rows


@pytest.fixture(scope="module")
def run(ray_session, tmp_path_factory):
    out = tmp_path_factory.mktemp("streaming")
    seq = sequence(
        shot("sh010", 1001, 1004),
        shot("sh020", 1005, 1008, angle=60),
        # Many more samples: sh030 is still rendering long after sh010 and its cut are final.
        shot("sh030", 1009, 1032, angle=120, samples=4096),
    )
    first = render(seq, out, FarmSettings(chunk_frames=2), poll=0.1)
    master = {p.name: p.read_bytes() for p in (out / "demo/sq010/master/exr").iterdir()}
    again = render(seq, out, FarmSettings(chunk_frames=2), poll=0.1, rerender=("sh020",))
    return out, first, again, master


def test_the_first_segment_is_built_while_later_shots_are_still_rendering(run):
    out, first, _, _ = run
    events = [t for t, _ in trace(out)]
    first_segment = events.index("SegmentStitched")
    last_render = max(i for i, t in enumerate(events) if t == "ChunkRendered" and i < events.index("MasterStitched"))
    assert first.status.value == "completed"
    assert first_segment < last_render


def test_rerendering_one_shot_rebuilds_only_its_segment_and_the_deliverables(run):
    out, _, again, master_before = run
    events = trace(out)
    requeued = next(i for i, (t, b) in enumerate(events) if t == "ShotRequeued")
    after = events[requeued:]
    assert after[0][1]["shot"] == "sh020" and after[0][1]["version"] == 2 and after[0][1]["cut"] is None
    rebuilt = [b["segment"] for t, b in after if t == "SegmentStitched"]
    rendered_shots = {b["chunk_id"].split(".")[0] for t, b in after if t == "ChunkRendered"}
    assert rebuilt == ["sh020"]
    assert rendered_shots == {"sh020"}
    assert [t for t, _ in after][-2:] == ["MasterStitched", "SequenceCompleted"]
    assert again.status.value == "completed"
    # The same spec renders the same pixels, so the master is unchanged frame for frame.
    master_after = {p.name: p.read_bytes() for p in (out / "demo/sq010/master/exr").iterdir()}
    assert master_after == master_before
