"""conform.otio: the delivered cut as OpenTimelineIO, clips on the accepted frames carrying their CDLs."""

from __future__ import annotations

from fractions import Fraction

import opentimelineio as otio
import pytest

from pipelines.color.cdl import CDL
from pipelines.editorial.otio import conform_otio, read_otio
from pipelines.master.delivered_cut import DeliveredCut, DeliveredShot, media_runs
from pipelines.spec.sequence import FrameRange

FIX = CDL(slope=(0.6, 0.6, 0.6), offset=(0.0, 0.0, -0.001), saturation=0.95)
OWN = CDL(slope=(1.7, 1.7, 1.7))


def shot(name: str, first: int, last: int, *grades: CDL, dissolve: int = 0, handles: int = 2, retried: int | None = None) -> DeliveredShot:
    """Accepted frames under attempt 1, or attempt 2 from frame `retried` on (a chunk that failed once)."""
    keys = {
        f: f"demo/sq/shots/{name}/v1/a{2 if retried is not None and f >= retried else 1}/{f:06d}.exr"
        for f in range(first - handles, last + handles + 1)
    }
    return DeliveredShot(name=name, frames=FrameRange(first=first, last=last), dissolve=dissolve, grades=grades, media=media_runs(keys))


def delivered(*shots: DeliveredShot, fps: Fraction = Fraction(24)) -> DeliveredCut:
    return DeliveredCut(name="demo / sq", fps=fps, start_timecode="01:00:00:00", shots=shots)


CUT = delivered(
    shot("sh010", 1001, 1010),
    shot("sh020", 1011, 1020, OWN, dissolve=4),
    shot("sh030", 1025, 1034),  # a 4-frame editorial gap before it
    shot("sh050", 1035, 1040, OWN, FIX),
)


@pytest.fixture
def timeline(tmp_path):
    path = tmp_path / "conform.otio"
    path.write_bytes(conform_otio(CUT))
    return otio.adapters.read_from_file(str(path))


def plain(value):
    """OTIO's metadata containers as plain dicts and lists, to compare with literals."""
    if isinstance(value, str | int | float) or value is None:
        return value
    if hasattr(value, "items"):
        return {k: plain(v) for k, v in value.items()}
    return [plain(v) for v in value]


def items(timeline) -> list:
    (track,) = timeline.video_tracks()
    return list(track)


def test_one_video_track_of_clips_named_by_shot_with_their_cut_frames(timeline):
    clips = [i for i in items(timeline) if isinstance(i, otio.schema.Clip)]
    assert [c.name for c in clips] == ["sh010", "sh020", "sh030", "sh050"]
    ranges = [(c.source_range.start_time.value, c.source_range.duration.value, c.source_range.duration.rate) for c in clips]
    assert ranges == [(1001, 10, 24), (1011, 10, 24), (1025, 10, 24), (1035, 6, 24)]
    assert otio.opentime.to_timecode(timeline.global_start_time, 24) == "01:00:00:00"


def test_gaps_stay_gaps_and_dissolves_are_transitions_centred_on_the_cut(timeline):
    kinds = [type(i).__name__ for i in items(timeline)]
    assert kinds == ["Clip", "Transition", "Clip", "Gap", "Clip", "Clip"]
    dissolve, gap = items(timeline)[1], items(timeline)[3]
    assert dissolve.transition_type == otio.schema.TransitionTypes.SMPTE_Dissolve
    assert (dissolve.in_offset.value, dissolve.out_offset.value) == (2, 2)
    assert gap.source_range.duration.value == 4


def test_clips_reference_the_accepted_raw_frames_handles_included(timeline):
    sh020 = items(timeline)[2]
    ref = sh020.media_reference
    assert isinstance(ref, otio.schema.ImageSequenceReference)
    assert ref.available_range.start_time.value == 1009 and ref.available_range.duration.value == 14
    frame = ref.frame_for_time(otio.opentime.RationalTime(1011, 24))
    assert frame == 1011
    assert ref.target_url_for_image_number(frame - ref.start_frame) == "demo/sq/shots/sh020/v1/a1/001011.exr"
    assert "relative to its root" in timeline.metadata["shotfarm"]["media"]  # said where a person reading the file looks


def test_each_clip_carries_its_net_cdl_where_the_cmx3600_adapter_reads_it(timeline):
    cdls = {i.name: plain(i.metadata.get("cdl")) for i in items(timeline) if isinstance(i, otio.schema.Clip)}
    assert cdls["sh020"] == {"asc_sop": {"slope": [1.7, 1.7, 1.7], "offset": [0.0, 0.0, 0.0], "power": [1.0, 1.0, 1.0]}, "asc_sat": 1.0}
    assert cdls["sh010"]["asc_sop"]["slope"] == [1.0, 1.0, 1.0]  # ungraded: an identity, so every shot shows
    assert cdls["sh050"]["asc_sop"]["slope"] == pytest.approx([1.02, 1.02, 1.02])  # its own grade then the fix, composed
    assert cdls["sh050"]["asc_sop"]["offset"] == pytest.approx([0.0, 0.0, -0.001]) and cdls["sh050"]["asc_sat"] == 0.95


def test_an_edl_exported_from_the_conform_carries_asc_sop_and_asc_sat(timeline):
    edl = otio.adapters.write_to_string(timeline, "cmx_3600")
    assert "*ASC_SOP (1.7 1.7 1.7) (0.0 0.0 0.0) (1.0 1.0 1.0)" in edl
    assert "*ASC_SAT 0.95" in edl
    back = otio.adapters.read_from_string(edl, "cmx_3600", rate=24)
    graded = {c.name: plain(c.metadata["cdl"]["asc_sop"]["slope"]) for c in back.find_clips() if "cdl" in c.metadata}
    assert graded["sh020"] == [1.7, 1.7, 1.7]


def test_shotfarm_reads_the_conform_back_as_the_cut_it_delivered():
    cut = read_otio(conform_otio(CUT), "conform.otio")
    assert [(c.name, c.record.first, c.record.last, c.dissolve) for c in cut.clips] == [
        ("sh010", 0, 9, 0), ("sh020", 10, 19, 4), ("sh030", 24, 33, 0), ("sh050", 34, 39, 0)
    ]
    assert cut.start_timecode == "01:00:00:00" and not cut.warnings
    assert cut.clips[1].grade == OWN


def test_a_shot_accepted_from_two_attempts_is_two_clips_each_on_its_own_folder():
    timeline = otio.adapters.read_from_string(conform_otio(delivered(shot("sh010", 1001, 1010, OWN, retried=1006))).decode(), "otio_json")
    clips = list(timeline.find_clips())
    assert [c.name for c in clips] == ["sh010", "sh010"]
    assert [(c.source_range.start_time.value, c.source_range.duration.value) for c in clips] == [(1001, 5), (1006, 5)]
    assert [c.media_reference.target_url_base for c in clips] == ["demo/sq/shots/sh010/v1/a1/", "demo/sq/shots/sh010/v1/a2/"]
    assert all(plain(c.metadata["cdl"]["asc_sop"]["slope"]) == [1.7, 1.7, 1.7] for c in clips)


def test_a_chain_that_does_not_compose_is_not_written_as_one_cdl():
    chain = (CDL(power=(2.0, 2.0, 2.0)), CDL(offset=(0.1, 0.1, 0.1)))
    timeline = otio.adapters.read_from_string(conform_otio(delivered(shot("sh010", 1001, 1010, *chain))).decode(), "otio_json")
    (clip,) = timeline.find_clips()
    metadata = plain(clip.metadata)
    assert "cdl" not in metadata
    assert metadata["shotfarm"]["ccc_ids"] == ["sh010", "sh010.2"]
    assert [c["asc_sop"]["power"] for c in metadata["shotfarm"]["cdl_chain"]] == [[2.0, 2.0, 2.0], [1.0, 1.0, 1.0]]


def test_an_ntsc_rate_is_kept():
    timeline = otio.adapters.read_from_string(
        conform_otio(delivered(shot("sh010", 1001, 1010), fps=Fraction(24000, 1001))).decode(), "otio_json"
    )
    (clip,) = timeline.find_clips()
    assert clip.source_range.duration.rate == pytest.approx(24000 / 1001)
