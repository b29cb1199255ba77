"""examples/generative renders end to end: a path-traced shot, a generated one, and one generated from its neighbour's frame as three takes.

The model is the example's own tiny Wan (build_tiny_model.py --conditioned),
built into the test's folder; the spec is the example's, with `model`
pointed there. Real Ray nodes, the real diffusion engine, the real check
node scoring the takes and the real master: sh030 waits for sh020's last
frame, reads exactly the frame the log accepted, every take is rendered and
scored, the best one's frames are mastered and every take's cost is counted.
"""

from __future__ import annotations

import html
import json

import pytest

from orchestrator.config.settings import FarmSettings
from orchestrator.core import events as ev
from orchestrator.core.evolve import replay
from orchestrator.eventlog.sqlite import LOG_NAME, SqliteEventLog
from orchestrator.interfaces.embedded import render
from orchestrator.projections.takes import take_rows
from pipelines.exr import decode_frame
from pipelines.spec.loading import load_sequence
from pipelines.spec.sequence import Sequence
from tests.pipelines.render.diffusion.conftest import ROOT, _builder

pytestmark = pytest.mark.slow
EXAMPLE = ROOT / "examples" / "generative" / "sequence.yaml"
TAKES = ["sh030.t1.1025-1036", "sh030.t2.1025-1036", "sh030.t3.1025-1036"]


def example_with_model(model) -> Sequence:
    seq = load_sequence(EXAMPLE).with_quality(resolution=(32, 18), samples=1)
    raw = seq.model_dump(mode="json")
    for shot in raw["shots"]:
        if shot.get("engine"):
            shot["engine"]["options"] |= {"model": str(model), "steps": 2}
    return Sequence.model_validate(raw)


def logged(out) -> list[ev.Event]:
    log = SqliteEventLog(out / LOG_NAME)
    try:
        return [e for _, e in log.read()]
    finally:
        log.close()


def diffusion_record(header: dict) -> dict:
    return {k.split("diffusion.", 1)[1]: v for k, v in header.items() if "diffusion." in k}


@pytest.fixture(scope="module")
def rendered_example(ray_session, tmp_path_factory):
    from pipelines.render.engines.diffusion.model import offline

    offline()
    tmp = tmp_path_factory.mktemp("generative")
    model = _builder().build(tmp / "tiny-wan", conditioned=True)
    seq = example_with_model(model)
    progress = render(seq, tmp / "out", FarmSettings(chunk_frames=4), poll=0.2)
    return model, seq, progress, tmp / "out", logged(tmp / "out")


def test_the_generative_example_renders_generated_shots_into_the_master(rendered_example):
    from pipelines.render.engines.diffusion.model import digest

    model, seq, progress, out, events = rendered_example
    assert progress.status.value == "completed", progress.reason
    assert progress.master_frames >= sum(len(s.frames) for s in seq.shots)
    generated = sorted(p for p in out.rglob("*.exr") if "sh020" in p.parts)
    assert len(generated) == len(seq.shot("sh020").frames)
    pixels, _ = decode_frame(generated[0].read_bytes())
    assert pixels.shape == (18, 32, 3)
    # The master frame at the cut repeats the engine's record: what regenerates the take, and how it became ACEScg.
    _, master = decode_frame(next(out.rglob("master/exr/001013.exr")).read_bytes())
    record = diffusion_record({k: v for k, v in master.items() if k.startswith("shotfarm/source_diffusion.")})
    assert record["modelDigest"] == digest(model) and record["seed"] == "42" and record["steps"] == "2"
    assert "inverse of sRGB - Display" in record["colourConversion"] and record["displayReferred"] == "true"
    # A generated shot of one take is one clip: one chunk, rendered once.
    chunks = [e.chunk_id for e in events if isinstance(e, ev.ChunkRendered) and e.chunk_id.startswith("sh020.")]
    assert chunks == ["sh020.1013-1024"]


def test_a_shot_generated_from_its_neighbours_frame_waits_for_it_and_reads_it_by_digest(rendered_example):
    _, _, _, out, events = rendered_example
    boundary = next(e for e in events if isinstance(e, ev.ChunkRendered) and any(f.frame == 1024 for f in e.frames))
    first_take = next(i for i, e in enumerate(events) if isinstance(e, ev.ChunkStarted) and e.chunk_id.startswith("sh030."))
    assert events.index(boundary) < first_take
    neighbour = next(f for f in boundary.frames if f.frame == 1024)
    takes = [e for e in events if isinstance(e, ev.ChunkRendered) and e.chunk_id.startswith("sh030.")]
    assert sorted(e.chunk_id for e in takes) == TAKES
    seeds = set()
    for take in takes:
        stored = next(p for p in out.rglob("*.exr") if p.as_posix().endswith(take.frames[0].key))
        record = diffusion_record(decode_frame(stored.read_bytes())[1])
        assert record["imageDigest"] == neighbour.digest
        seeds.add(record["seed"])
    assert seeds == {"7", "8", "9"}


def test_the_best_of_three_takes_is_mastered_and_every_take_is_paid_for_and_reported(rendered_example):
    _, _, _, out, events = rendered_example
    (choice,) = [e for e in events if isinstance(e, ev.TakeChosen)]
    assert len(choice.scores) == 3
    assert choice.take == min(choice.scores, key=lambda s: (s.score, s.take)).take
    assert f"take {choice.take} scores" in choice.reason
    assert all(any(k.startswith("sh020>sh030 ") for k in s.distances) for s in choice.scores)  # judged against sh020
    # The mastered frames are the chosen take's: its seed is in the master's provenance.
    _, master = decode_frame(next(out.rglob("master/exr/001025.exr")).read_bytes())
    assert master["shotfarm/source_diffusion.seed"] == str(7 + choice.take - 1)
    # Every take is paid for: the rejected ones are in the sequence's cost and in the take rows.
    seq = next(iter(replay(events).sequences.values()))
    rows = take_rows(seq)
    assert [(r.take, r.accepted) for r in rows] == [(k, k == choice.take) for k in (1, 2, 3)]
    assert all(r.cost_usd > 0 and r.node_seconds > 0 for r in rows)
    assert seq.cost_usd >= sum(r.cost_usd for r in rows)
    # The report beside the master shows every take, its score and cost, and why the winner won.
    report = json.loads((out / "continuity.takes.json").read_text())
    assert [(t["take"], t["accepted"], t["score"]) for t in report] == [(s.take, s.take == choice.take, s.score) for s in choice.scores]
    page = html.unescape((out / "continuity.html").read_text())
    assert choice.reason in page and "per second of accepted picture" in page
