"""OpenTimelineIO cuts: clips become shots whose ranges are exactly what OTIO reports."""

from __future__ import annotations

import opentimelineio as otio
import pytest

from pipelines.editorial.cut import EditorialError
from pipelines.editorial.mapping import build_sequence, parse_mapping
from pipelines.editorial.otio import read_otio
from tests.pipelines.editorial.support import mapping, sample_timeline

SAMPLES = ["simple_cut.otio", "transition_test.otio"]


def otio_clips(path):
    timeline = otio.adapters.read_from_file(str(path))
    track = timeline.video_tracks()[0]
    return [(c, track.range_of_child(c)) for c in track if isinstance(c, otio.schema.Clip)]


@pytest.mark.parametrize("name", SAMPLES)
def test_every_clip_becomes_a_shot_with_otios_own_trimmed_range_and_record_position(name):
    path = sample_timeline(name)
    imported = build_sequence(read_otio(path.read_bytes(), name), parse_mapping(mapping(first_frame=1001)))
    shots = imported.spec.timeline
    clips = otio_clips(path)
    assert len(shots) == len(clips)
    for shot, origin, (clip, placed) in zip(shots, imported.shots, clips):
        trimmed = clip.trimmed_range()
        assert len(shot.frames) == trimmed.duration.value
        assert shot.frames.first == 1001 + placed.start_time.value
        assert origin.source is not None
        assert (origin.source.start, origin.source.duration) == (trimmed.start_time.value, trimmed.duration.value)
        assert origin.clip == clip.name


def test_a_clip_without_a_source_range_takes_its_media_range():
    cut = read_otio(sample_timeline("simple_cut.otio").read_bytes(), "simple_cut.otio")
    last = cut.clips[-1]
    assert last.name == "Clip-004"
    assert (last.source.start, last.source.duration) == (100, 6)  # its available_range, as trimmed_range() says


def test_a_dissolve_between_two_clips_becomes_the_incoming_shots_dissolve_with_handles_to_cover_it():
    imported = build_sequence(
        read_otio(sample_timeline("transition_test.otio").read_bytes(), "transition_test.otio"),
        parse_mapping(mapping(handles=2)),
    )
    a, b, c = imported.spec.timeline
    assert (a.dissolve, b.dissolve, c.dissolve) == (0, 20, 0)
    assert a.handles == b.handles == 10  # half of the 20 frames on each side
    assert c.handles == 2


def test_fades_from_and_to_nothing_are_warned_about_not_invented():
    cut = read_otio(sample_timeline("transition_test.otio").read_bytes(), "transition_test.otio")
    assert sum("does not join two clips" in w for w in cut.warnings) == 2
    assert cut.clips[0].dissolve == 0


def timeline_with(*items, markers=()):
    timeline = otio.schema.Timeline(name="t")
    track = otio.schema.Track(name="V1")
    for item in items:
        track.append(item)
    for m in markers:
        track.markers.append(m)
    timeline.tracks.append(track)
    return otio.adapters.write_to_string(timeline, "otio_json").encode()


def clip(name, start, duration, rate=24, markers=(), metadata=None):
    c = otio.schema.Clip(
        name=name,
        source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(duration, rate)
        ),
        metadata=metadata or {},
    )
    for m in markers:
        c.markers.append(m)
    return c


def marker(name, at, rate=24, color=otio.schema.MarkerColor.RED):
    return otio.schema.Marker(
        name=name, marked_range=otio.opentime.TimeRange(otio.opentime.RationalTime(at, rate)), color=color
    )


def test_gaps_keep_their_place_on_the_timeline():
    data = timeline_with(clip("a", 0, 10), otio.schema.Gap(duration=otio.opentime.RationalTime(5, 24)), clip("b", 0, 10))
    cut = read_otio(data, "gap.otio")
    assert [(c.record.first, c.record.last) for c in cut.clips] == [(0, 9), (15, 24)]


def test_markers_become_notes_at_their_frame_and_cdl_metadata_becomes_a_grade():
    cdl = {"cdl": {"asc_sop": {"slope": [1.2, 1, 1], "offset": [0, 0, 0.02], "power": [1, 1, 1]}, "asc_sat": 0.8}}
    data = timeline_with(clip("a", 100, 20, markers=[marker("FIX HAND", 104)], metadata=cdl), clip("b", 0, 10))
    imported = build_sequence(read_otio(data, "m.otio"), parse_mapping(mapping()))
    a = imported.spec.shot("a")
    assert a.grade is not None and a.grade.slope == (1.2, 1, 1) and a.grade.saturation == 0.8
    assert imported.shots[0].notes == ("frame 1005: FIX HAND (red)",)


def test_markers_on_the_track_go_to_the_clip_they_fall_in():
    data = timeline_with(clip("a", 0, 10), clip("b", 0, 10), markers=[marker("LOOK HERE", 12)])
    cut = read_otio(data, "t.otio")
    assert cut.clips[1].notes[0].text == "LOOK HERE" and cut.clips[1].notes[0].offset == 2


@pytest.mark.parametrize(
    "data, message",
    [
        (b"not json at all", "not an OpenTimelineIO file"),
        (b'{"OTIO_SCHEMA": "Clip.1", "name": "x"}', "expected a Timeline, found Clip"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (otio.adapters.write_to_string(otio.schema.Timeline(), "otio_json").encode(), "no video track"),
    ],
)
def test_unusable_files_are_refused_naming_the_file(data, message):
    with pytest.raises(EditorialError) as e:
        read_otio(data, "upload.otio")
    assert e.value.source == "upload.otio" and message in e.value.render()


def test_a_nested_composition_is_refused_naming_the_item():
    inner = otio.schema.Stack(name="precomp")
    data = timeline_with(clip("a", 0, 10), inner)
    with pytest.raises(EditorialError, match="'precomp' is a nested composition"):
        read_otio(data, "nested.otio")


def test_a_wipe_plays_as_a_cut_with_a_warning():
    wipe = otio.schema.Transition(
        name="w", transition_type="SMPTE_Wipe", in_offset=otio.opentime.RationalTime(2, 24),
        out_offset=otio.opentime.RationalTime(2, 24),
    )
    cut = read_otio(timeline_with(clip("a", 0, 10), wipe, clip("b", 0, 10)), "w.otio")
    assert cut.clips[1].dissolve == 0 and any("plays as a cut" in w for w in cut.warnings)
