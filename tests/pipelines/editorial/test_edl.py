"""CMX3600 EDLs: events become shots, D events dissolves, ASC_SOP/ASC_SAT grades, LOC lines notes."""

from __future__ import annotations

import pickle
from fractions import Fraction

import opentimelineio as otio
import pytest

from pipelines.editorial.cut import EditorialError
from pipelines.editorial.edl import read_edl
from pipelines.editorial.mapping import build_sequence, parse_mapping
from pipelines.spec.loading import SpecError
from tests.pipelines.editorial.support import HERE, camera, mapping

EDL = HERE / "dissolve_grades.edl"


@pytest.fixture
def imported():
    cut = read_edl(EDL.read_bytes(), EDL.name, Fraction(24))
    return build_sequence(cut, parse_mapping(mapping(by_index={"1": {"camera": camera(60)}, "3": {"camera": camera(120)}})))


def test_events_become_shots_with_the_ranges_otio_reports(imported):
    timeline = otio.adapters.read_from_file(str(EDL), rate=24)
    track = timeline.video_tracks()[0]
    clips = [c for c in track if isinstance(c, otio.schema.Clip)]
    assert [len(s.frames) for s in imported.spec.timeline] == [c.trimmed_range().duration.value for c in clips]
    assert [s.frames.first - 1001 for s in imported.spec.timeline] == [
        track.range_of_child(c).start_time.value for c in clips
    ]


def test_clip_names_become_shot_names_made_safe(imported):
    assert [s.name for s in imported.spec.timeline] == ["sh010", "sh020", "sh030", "sh_040_alt"]


def test_a_gap_in_the_record_stays_a_gap(imported):
    sh030, sh040 = imported.spec.timeline[2:]
    assert sh040.frames.first - sh030.frames.last == 25  # 01:00:06:00 .. 01:00:07:00 is black


def test_the_d_event_becomes_a_dissolve_and_its_asymmetry_is_reported(imported):
    sh010, sh020 = imported.spec.timeline[:2]
    assert sh020.dissolve == 8 and sh010.handles >= 4 and sh020.handles >= 4
    assert any("runs 0 frame(s) before the cut and 8 after" in w for w in imported.warnings)


def test_asc_sop_and_asc_sat_become_the_initial_grade(imported):
    grade = imported.spec.shot("sh010").grade
    assert grade.slope == (1.1, 1.0, 0.9) and grade.offset == (0.01, 0.0, -0.01) and grade.saturation == 0.9
    assert imported.spec.shot("sh020").grade is None


def test_loc_markers_become_notes_on_their_shot_at_the_timeline_frame(imported):
    notes = {o.shot: o.notes for o in imported.shots}
    assert notes["sh010"] == ("frame 1025: ANIM FIX NEEDED (red)",)
    assert notes["sh030"] == ("frame 1131: CHECK EYELINE (yellow)",)


def test_the_first_record_timecode_becomes_the_start_timecode(imported):
    assert imported.spec.start_timecode == "01:00:00:00"


def test_the_rate_given_is_the_sequences_fps():
    cut = read_edl(EDL.read_bytes(), EDL.name, Fraction(25))
    assert cut.fps == 25 and cut.clips[0].record.last == 49  # two seconds at 25 fps


@pytest.mark.parametrize(
    "data, message",
    [
        ((HERE / "not_an_edl.edl").read_bytes(), "no edit events"),
        (b"\x00\x01binary", "binary data"),
        (b"001  AX V C 01:00:00:00 01:00:01:00 01:00:00:00\n", "not a readable CMX3600 EDL"),
    ],
)
def test_unusable_edls_are_refused_naming_the_file(data, message):
    with pytest.raises(EditorialError) as e:
        read_edl(data, "cut.edl", Fraction(24))
    assert e.value.source == "cut.edl" and message in e.value.render()


def test_editorial_errors_are_spec_errors_that_survive_pickling():
    error = EditorialError("cut.edl", [("V[2]", "bad")])
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, SpecError) and again.problems == [("V[2]", "bad")] and again.source == "cut.edl"
