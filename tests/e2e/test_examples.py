"""Examples are tests: every spec in examples/ validates and renders end to end at a tiny size."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import opentimelineio as otio
import pytest

from orchestrator.config.settings import FarmSettings
from orchestrator.core.events import FixApplied
from orchestrator.eventlog.sqlite import LOG_NAME, SqliteEventLog
from orchestrator.interfaces.embedded import render
from pipelines.color.ccc import NAMESPACE
from pipelines.editorial.otio import read_otio
from pipelines.spec.loading import load_sequence
from pipelines.spec.sequence import Sequence

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
    # The conform delivered with it is the cut that was mastered: every shot in place, dissolves included.
    conform = read_otio((tmp_path / progress.deliverables["conform.otio"]).read_bytes(), "conform.otio")
    first = seq.timeline[0].frames.first
    assert [(c.name, c.record.first + first, c.record.last + first, c.dissolve) for c in conform.clips] == [
        (s.name, s.frames.first, s.frames.last, s.dissolve) for s in seq.timeline
    ]
    assert not conform.warnings and (tmp_path / progress.deliverables["grades.ccc"]).is_file()


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
    assert_grades_and_conform_carry_the_chosen_grade(tmp_path, progress, seq, "sh050")


def assert_grades_and_conform_carry_the_chosen_grade(out: Path, progress, seq: Sequence, graded: str) -> None:
    """grades.ccc and conform.otio list every shot, `graded` with the CDL the continuity pass chose for it."""
    shots = [s.name for s in seq.timeline]
    log = SqliteEventLog(out / LOG_NAME)
    try:
        chosen = {e.shot: e.grade for _, e in log.read() if isinstance(e, FixApplied)}
    finally:
        log.close()
    cdl = chosen[graded]
    assert cdl != seq.shot(graded).grade  # the pass replaced the grade the shot arrived with
    ccc = ET.fromstring((out / progress.deliverables["grades.ccc"]).read_bytes())
    corrections = {cc.get("id"): cc for cc in ccc.iter(f"{{{NAMESPACE}}}ColorCorrection")}
    assert list(corrections) == shots
    slope = [float(v) for v in corrections[graded].findtext(f".//{{{NAMESPACE}}}Slope").split()]
    assert [f"{v:.6g}" for v in slope] == [f"{v:.6g}" for v in cdl.slope]
    timeline = otio.adapters.read_from_file(str(out / progress.deliverables["conform.otio"]))
    clips = {c.name: c for c in timeline.find_clips()}
    assert list(clips) == shots
    sop = clips[graded].metadata["cdl"]["asc_sop"]
    assert [float(v) for v in sop["slope"]] == pytest.approx(cdl.slope)
    assert isinstance(clips[graded].media_reference, otio.schema.ImageSequenceReference)
    assert (out / clips[graded].media_reference.target_url_for_image_number(0)).is_file()
