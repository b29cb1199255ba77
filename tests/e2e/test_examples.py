"""Examples are tests: every spec in examples/ validates and renders end to end at a tiny size."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config.settings import FarmSettings
from orchestrator.interfaces.embedded import render
from pipelines.spec.loading import load_sequence

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


def test_there_are_examples():
    assert EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_renders_to_a_master(ray_session, tmp_path, path):
    seq = load_sequence(path).with_quality(resolution=(32, 18), samples=1)
    progress = render(seq, tmp_path, FarmSettings(chunk_frames=16), poll=0.2)
    assert progress.status.value == "completed", progress.reason
    cut = sum(len(s.frames) for s in seq.shots)
    assert progress.master_frames >= cut
    assert (tmp_path / progress.contact_sheet).is_file()


def test_the_continuity_example_fixes_all_its_planted_errors_by_itself(ray_session, tmp_path):
    path = Path(__file__).parents[2] / "examples" / "continuity_errors.yaml"
    seq = load_sequence(path).with_quality(resolution=(160, 90), samples=4)
    progress = render(seq, tmp_path, FarmSettings(chunk_frames=10), poll=0.2)
    assert progress.status.value == "completed", progress.reason
    verdicts = {c.cut: c.status for c in progress.cuts}
    assert set(verdicts.values()) == {"fixed"}, verdicts
    fixes = {f for c in progress.cuts for f in c.fixes}
    # exposure and white-balance jumps come from the lights (re-rendered), the line is crossed by a camera
    assert {"lighting: requeue", "axis_180: requeue", "exposure: grade"} <= fixes
    report = (tmp_path / "continuity.html").read_text()
    assert "re-rendered" in report and "graded" in report
