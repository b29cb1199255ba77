"""MasterNode: conformed, graded, blended master segments, checked against the log."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from nodes.actors.master import MasterNode, SourceFrameBad
from nodes.protocol import SegmentOrder, SourceFrame, SourceLayer, StoredFrame
from nodes.storage.local import LocalStore
from pipelines.color.cdl import CDL
from pipelines.exr import decode_frame, encode_frame

W, H = 8, 4


def stored(store: LocalStore, shot: str, frame: int, value: float) -> StoredFrame:
    pixels = np.full((H, W, 3), value, np.float32)
    data = encode_frame(pixels, fps=Fraction(24), timecode=(1, 0, 0, 0), attributes={"shot": shot})
    key = f"demo/sq/shots/{shot}/v1/{frame:06d}.exr"
    return StoredFrame(frame=frame, key=key, digest=store.put(key, data))


def order(*frames: SourceFrame) -> SegmentOrder:
    return SegmentOrder(
        sequence_id="demo:sq",
        segment="sh010",
        fingerprint="f",
        frames=frames,
        resolution=(W, H),
        key_prefix="demo/sq/master",
        fps=Fraction(24),
        start_timecode="01:00:00:00",
        timeline_first=1001,
    )


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path)


def master_pixels(store: LocalStore, frame: int) -> tuple[np.ndarray, dict]:
    return decode_frame(store.get(f"demo/sq/master/exr/{frame:06d}.exr"))


def test_a_dissolve_frame_is_the_weighted_mix_in_scene_linear_light(store, tmp_path):
    a, b = stored(store, "sh010", 1010, 4.0), stored(store, "sh020", 1010, 0.5)
    frame = SourceFrame(
        frame=1010, layers=(SourceLayer(shot="sh010", weight=0.75, source=a), SourceLayer(shot="sh020", weight=0.25, source=b))
    )
    MasterNode(str(tmp_path)).stitch_segment(order(frame))
    pixels, header = master_pixels(store, 1010)
    assert np.allclose(pixels, 0.75 * 4.0 + 0.25 * 0.5)
    assert header["shotfarm/shot"] == "sh010" and "sh020@1010x0.250" in header["shotfarm/layers"]


def test_grades_apply_in_order_without_clamping_hdr(store, tmp_path):
    src = stored(store, "sh010", 1001, 4.0)
    grades = (CDL(slope=(1.1, 1.1, 1.1)), CDL(slope=(2.0, 2.0, 2.0)))
    MasterNode(str(tmp_path)).stitch_segment(
        order(SourceFrame(frame=1001, layers=(SourceLayer(shot="sh010", weight=1.0, source=src, grades=grades),)))
    )
    pixels, header = master_pixels(store, 1001)
    assert np.allclose(pixels, 8.8, rtol=1e-3)
    assert header["shotfarm/grade"].count("then") == 1


def test_a_gap_frame_is_black_and_says_so(store, tmp_path):
    MasterNode(str(tmp_path)).stitch_segment(order(SourceFrame(frame=1005, layers=())))
    pixels, header = master_pixels(store, 1005)
    assert pixels.max() == 0 and header["shotfarm/shot"] == "gap"


@pytest.mark.parametrize("damage", ["missing", "altered"])
def test_a_bad_source_frame_names_shot_and_frame_and_writes_nothing(store, tmp_path, damage):
    good = stored(store, "sh010", 1001, 1.0)
    bad = stored(store, "sh010", 1002, 1.0)
    path = tmp_path / bad.key
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    frames = [SourceFrame(frame=f.frame, layers=(SourceLayer(shot="sh010", weight=1.0, source=f),)) for f in (good, bad)]
    with pytest.raises(SourceFrameBad, match="shot sh010 frame 1002") as err:
        MasterNode(str(tmp_path)).stitch_segment(order(*frames))
    assert (err.value.shot, err.value.frame) == ("sh010", 1002)
    assert not (tmp_path / "demo/sq/master").exists()
