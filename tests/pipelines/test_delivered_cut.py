"""The delivered cut: each shot's accepted frames as runs of one folder, covering its cut."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipelines.color.cdl import CDL
from pipelines.master.delivered_cut import DeliveredShot, MediaRun, media_runs
from pipelines.spec.sequence import FrameRange


def key(attempt: int, frame: int) -> str:
    return f"demo/sq/shots/sh010/v1/a{attempt}/{frame:06d}.exr"


def test_frames_of_one_attempt_are_one_run():
    runs = media_runs({f: key(1, f) for f in range(999, 1013)})
    assert runs == (MediaRun(folder="demo/sq/shots/sh010/v1/a1", frames=FrameRange(first=999, last=1012)),)


def test_a_chunk_accepted_from_a_later_attempt_starts_a_new_run():
    keys = {f: key(1 if f < 1005 or f > 1008 else 2, f) for f in range(1001, 1013)}
    runs = media_runs(keys)
    assert [(r.folder[-2:], r.frames.first, r.frames.last) for r in runs] == [("a1", 1001, 1004), ("a2", 1005, 1008), ("a1", 1009, 1012)]


def test_a_hole_in_the_frames_starts_a_new_run():
    runs = media_runs({f: key(1, f) for f in (1, 2, 3, 7, 8)})
    assert [(r.frames.first, r.frames.last) for r in runs] == [(1, 3), (7, 8)]


def test_a_frame_stored_under_another_name_is_refused():
    with pytest.raises(ValueError, match="frame 1001"):
        media_runs({1001: "demo/sq/shots/sh010/v1/a1/frame.1001.exr"})


def test_a_shot_whose_cut_is_not_covered_by_accepted_frames_is_refused():
    runs = media_runs({f: key(1, f) for f in range(1001, 1005)})
    with pytest.raises(ValidationError, match="cut frame"):
        DeliveredShot(name="sh010", frames=FrameRange(first=1001, last=1006), media=runs)


def test_an_ungraded_shot_has_an_identity_net_grade():
    runs = media_runs({f: key(1, f) for f in range(1001, 1005)})
    shot = DeliveredShot(name="sh010", frames=FrameRange(first=1001, last=1004), media=runs)
    assert shot.net_grade == (CDL(),)
