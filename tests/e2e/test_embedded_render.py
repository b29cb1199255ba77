"""A whole sequence rendered on the session's local Ray: shots, chunks, master."""

from __future__ import annotations

import sqlite3
from fractions import Fraction

import OpenEXR
import pytest
from PIL import Image

from orchestrator.config.settings import FarmSettings
from orchestrator.interfaces.embedded import LOG_NAME, render
from pipelines.exr import decode_frame, timecode_str
from tests.builders import sequence, shot

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def finished(ray_session, tmp_path_factory):
    out = tmp_path_factory.mktemp("render")
    seq = sequence(
        shot("sh010", 1001, 1006, handles=1),
        shot("sh020", 1007, 1010, handles=2, angle=60),
        shot("sh030", 1013, 1015, angle=120),
    )
    seen = []
    progress = render(seq, out, FarmSettings(chunk_frames=3), on_progress=seen.append, poll=0.1)
    return out, seq, progress, seen


def log_types(out):
    db = sqlite3.connect(out / LOG_NAME)
    rows = [r[0] for r in db.execute("SELECT type FROM events ORDER BY seq")]
    db.close()
    return rows


def test_the_sequence_completes_with_every_frame_rendered(finished):
    out, seq, progress, _ = finished
    assert progress.status.value == "completed"
    assert progress.frames_rendered == progress.frames_total == (6 + 2) + (4 + 4) + 3
    assert progress.chunks_rendered == progress.chunks_total


def test_shot_frames_are_stored_as_exr_under_the_design_layout(finished):
    out, _, _, _ = finished
    for f in range(1000, 1008):
        assert (out / f"demo/sq010/shots/sh010/v1/a1/{f:06d}.exr").is_file()
    assert not list(out.rglob(".tmp-*"))


def test_the_master_is_continuous_in_timeline_order_with_handles_trimmed_and_gaps_black(finished):
    out, _, progress, _ = finished
    master = sorted((out / "demo/sq010/master/exr").glob("*.exr"))
    assert [int(p.stem) for p in master] == list(range(1001, 1016))
    shots = []
    for p in master:
        pixels, header = decode_frame(p.read_bytes())
        shots.append(header["shotfarm/shot"])
        if header["shotfarm/shot"] == "gap":
            assert pixels.max() == 0
    assert shots == ["sh010"] * 6 + ["sh020"] * 4 + ["gap"] * 2 + ["sh030"] * 3
    assert progress.master_frames == 15


def test_master_frames_carry_timecode_fps_and_provenance(finished):
    out, _, _, _ = finished
    first = OpenEXR.File(str(out / "demo/sq010/master/exr/001001.exr"), header_only=True).header()
    later = OpenEXR.File(str(out / "demo/sq010/master/exr/001008.exr"), header_only=True).header()
    assert first["framesPerSecond"] == Fraction(24)
    tc = later["timeCode"]
    assert (tc.hours, tc.minutes, tc.seconds, tc.frame) == (1, 0, 0, 7)
    assert later["shotfarm/source_frame"] == 1008
    assert len(later["shotfarm/source_digest"]) == 64
    assert OpenEXR.checkColorMetadata(first) == 0
    assert timecode_str(7, Fraction(24)) == "01:00:00:07"


def test_a_contact_sheet_shows_one_tile_per_shot(finished):
    out, _, progress, _ = finished
    sheet = out / "demo/sq010/master/contact_sheet.png"
    assert progress.contact_sheet == "demo/sq010/master/contact_sheet.png"
    assert Image.open(sheet).size[0] > 0


def test_the_log_tells_the_whole_story_in_order(finished):
    out, _, progress, _ = finished
    types = log_types(out)
    assert types[:3] == ["PoolStarted", "SequenceSubmitted", "ShotsPlanned"]
    assert types.count("ChunkStarted") == types.count("ChunkRendered") == progress.chunks_total == 7
    assert types[-2:] == ["MasterStitched", "SequenceCompleted"]


def test_progress_is_reported_while_rendering_and_costs_are_priced(finished):
    _, _, progress, seen = finished
    rendered = [p.frames_rendered for p in seen]
    assert rendered == sorted(rendered) and len(set(rendered)) > 1
    assert progress.node_seconds > 0
    assert progress.cost_usd == pytest.approx(progress.node_seconds * 0.05 / 3600)


def test_rendering_the_same_spec_again_renders_nothing_new(finished, ray_session):
    out, seq, _, _ = finished
    before = log_types(out)
    again = render(seq, out, FarmSettings(chunk_frames=3), poll=0.1)
    after = log_types(out)
    assert again.status.value == "completed"
    assert after[len(before):] == ["PoolStarted"]


def test_hdr10_and_sdr_deliverables_are_made_with_measured_light_levels(finished):
    import json
    import subprocess

    out, _, progress, _ = finished
    assert set(progress.deliverables) >= {"hdr10.mp4", "review_sdr.mp4"}
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", str(out / progress.deliverables["hdr10.mp4"])],
        capture_output=True, text=True, check=True,
    )
    stream = json.loads(probe.stdout)["streams"][0]
    assert (stream["profile"], stream["color_transfer"], stream["color_primaries"]) == ("Main 10", "smpte2084", "bt2020")
    assert int(stream["nb_frames"]) == 15


def test_every_cut_has_a_verdict_and_the_report_is_at_the_top_of_the_output(finished):
    out, _, progress, _ = finished
    assert [c.cut for c in progress.cuts] == ["sh010>sh020", "sh020>sh030"]
    assert all(c.status in {"ok", "fixed", "review"} for c in progress.cuts)
    assert (out / "continuity.json").is_file() and (out / "continuity.html").is_file()
