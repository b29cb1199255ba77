"""examples/generative renders end to end: a path-traced shot and a Wan-generated one in one master, at a tiny size.

The model is the example's own tiny random-weight Wan (build_tiny_model.py),
built into the test's folder; the spec is the example's, with `model`
pointed there. Real Ray nodes, the real diffusion engine, the real master.
"""

from __future__ import annotations

import pytest

from orchestrator.config.settings import FarmSettings
from orchestrator.core.events import ChunkRendered
from orchestrator.eventlog.sqlite import LOG_NAME, SqliteEventLog
from orchestrator.interfaces.embedded import render
from pipelines.exr import decode_frame
from pipelines.spec.loading import load_sequence
from pipelines.spec.sequence import Sequence
from tests.pipelines.render.diffusion.conftest import ROOT, _builder

pytestmark = pytest.mark.slow
EXAMPLE = ROOT / "examples" / "generative" / "sequence.yaml"


def example_with_model(model) -> Sequence:
    seq = load_sequence(EXAMPLE).with_quality(resolution=(32, 18), samples=1)
    raw = seq.model_dump(mode="json")
    for shot in raw["shots"]:
        if shot.get("engine"):
            shot["engine"]["options"] |= {"model": str(model), "steps": 2}
    return Sequence.model_validate(raw)


def test_the_generative_example_renders_a_generated_shot_into_the_master(ray_session, tmp_path):
    from pipelines.render.engines.diffusion.model import digest, offline

    offline()
    model = _builder().build(tmp_path / "tiny-wan")
    seq = example_with_model(model)
    progress = render(seq, tmp_path / "out", FarmSettings(chunk_frames=4), poll=0.2)
    assert progress.status.value == "completed", progress.reason
    assert progress.master_frames >= sum(len(s.frames) for s in seq.shots)
    out = tmp_path / "out"
    generated = sorted(p for p in out.rglob("*.exr") if "sh020" in p.parts)
    assert len(generated) == len(seq.shot("sh020").frames)
    pixels, header = decode_frame(generated[0].read_bytes())
    assert pixels.shape == (18, 32, 3)
    # The master frame at the cut repeats the engine's record: what regenerates the take, and how it became ACEScg.
    _, master = decode_frame(next(out.rglob("master/exr/001013.exr")).read_bytes())
    record = {k.removeprefix("shotfarm/source_diffusion."): v for k, v in master.items() if "source_diffusion." in k}
    assert record["modelDigest"] == digest(model) and record["seed"] == "42" and record["steps"] == "2"
    assert "inverse of sRGB - Display" in record["colourConversion"] and record["displayReferred"] == "true"
    # The generated shot was one clip: one chunk, rendered once.
    log = SqliteEventLog(out / LOG_NAME)
    try:
        chunks = [e.chunk_id for _, e in log.read() if isinstance(e, ChunkRendered) and e.chunk_id.startswith("sh020.")]
    finally:
        log.close()
    assert chunks == ["sh020.1013-1024"]
