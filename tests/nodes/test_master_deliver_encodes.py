"""MasterNode deliverables: encodes fed as segments are stitched in timeline order, the same files as a delivery from scratch."""

from __future__ import annotations

import io
import threading
from fractions import Fraction

import av
import numpy as np
import pytest

from nodes.actors.master import MasterNode, SourceFrameBad
from nodes.protocol import DeliverOrder, SegmentOrder, SheetTile, SourceFrame, SourceLayer, StoredFrame
from nodes.storage.local import LocalStore
from pipelines.exr import encode_frame

W, H = 64, 36
FRAMES = range(1001, 1005)


def source(store: LocalStore, frame: int) -> StoredFrame:
    xx = np.linspace(0.0, 1.0, W, dtype=np.float32)[None, :, None]
    pixels = np.broadcast_to(0.01 * np.exp2(12.0 * xx) * (1.0 + 0.1 * (frame - 1000)), (H, W, 3)).astype(np.float32)
    data = encode_frame(pixels, fps=Fraction(24), timecode=(1, 0, 0, 0), attributes={"shot": "sh010"})
    key = f"demo/sq/shots/sh010/v1/{frame:06d}.exr"
    return StoredFrame(frame=frame, key=key, digest=store.put(key, data))


def stitch(node: MasterNode, store: LocalStore, frames=FRAMES, segment="sh010", timeline=(), gain=1.0) -> tuple[StoredFrame, ...]:
    layers = [SourceFrame(frame=f, layers=(SourceLayer(shot="sh010", source=source(store, f), weight=gain),)) for f in frames]
    order = SegmentOrder(
        sequence_id="demo:sq", segment=segment, fingerprint="f", frames=tuple(layers), resolution=(W, H),
        key_prefix="demo/sq/master", fps=Fraction(24), start_timecode="01:00:00:00", timeline_first=1001,
        timeline=timeline, labels=tuple(f"sh010 {f}" for f in frames) if timeline else (),
    )  # fmt: skip
    return node.stitch_segment(order).frames


def deliver_order(frames: tuple[StoredFrame, ...], prefix: str) -> DeliverOrder:
    return DeliverOrder(
        sequence_id="demo:sq",
        title="demo / sq",
        frames=frames,
        key_prefix=prefix,
        fps=Fraction(24),
        sheet=(SheetTile(shot="sh010", label="sh010", source=frames[0]),),
        labels=tuple(f"sh010 {f.frame}" for f in frames),
        resolution=(W, H),
    )


class CountingReads:
    def __init__(self, store: LocalStore):
        self.store, self.reads = store, []

    def get(self, key: str) -> bytes:
        self.reads.append(key)
        return self.store.get(key)

    def __getattr__(self, name: str):
        return getattr(self.store, name)


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path)


def decoded(data: bytes) -> list[bytes]:
    with av.open(io.BytesIO(data)) as c:
        return [bytes(p) for f in c.decode(video=0) for p in f.planes]


def assert_same_deliverables(store: LocalStore, a, b) -> None:
    assert (a.maxcll, a.maxfall) == (b.maxcll, b.maxfall)
    assert store.get(a.deliverables["hdr10.mp4"].key) == store.get(b.deliverables["hdr10.mp4"].key)
    # The review proxy's bytes may vary from run to run (x264); its pictures may not.
    assert decoded(store.get(a.deliverables["review_sdr.mp4"].key)) == decoded(store.get(b.deliverables["review_sdr.mp4"].key))


TIMELINE = ("sh010", "sh020", "sh030")
PARTS = {"sh010": range(1001, 1004), "sh020": range(1004, 1006), "sh030": range(1006, 1009)}


@pytest.mark.parametrize("order", [TIMELINE, ("sh030", "sh010", "sh020"), ("sh020", "sh030", "sh010")])
def test_segments_stitched_in_any_order_are_encoded_as_they_come_and_deliver_the_files_of_a_fresh_delivery(store, tmp_path, order):
    node = MasterNode(str(tmp_path))
    counting = node.store = CountingReads(node.store)
    stitched = {name: stitch(node, store, PARTS[name], name, TIMELINE) for name in order}
    frames = tuple(f for name in TIMELINE for f in stitched[name])
    here = node.deliver(deliver_order(frames, "demo/sq/master/here"))
    # Each encode read each master frame once, as it was fed, and the contact sheet its tile: nothing was encoded twice.
    master_reads = [k for k in counting.reads if "/master/exr/" in k]
    assert sorted(master_reads) == sorted([f.key for f in frames] * 2 + [frames[0].key])

    fresh = MasterNode(str(tmp_path)).deliver(deliver_order(frames, "demo/sq/master/fresh"))
    assert_same_deliverables(store, here, fresh)


def test_a_segment_stitched_again_after_it_was_encoded_starts_the_encodes_afresh(store, tmp_path):
    node = MasterNode(str(tmp_path))
    stitch(node, store, PARTS["sh010"], "sh010", TIMELINE)
    stitch(node, store, PARTS["sh020"], "sh020", TIMELINE)
    graded = stitch(node, store, PARTS["sh010"], "sh010", TIMELINE, gain=0.5)  # a fix, after sh010 was fed
    frames = graded + stitch(node, store, PARTS["sh020"], "sh020", TIMELINE) + stitch(node, store, PARTS["sh030"], "sh030", TIMELINE)
    counting = node.store = CountingReads(node.store)
    here = node.deliver(deliver_order(frames, "demo/sq/master/here"))
    # The encodes fed the first grade were dropped; the new ones were fed the whole master again as it was stitched.
    assert len([k for k in counting.reads if "/master/exr/" in k]) <= 2 * len(frames) + 1
    fresh = MasterNode(str(tmp_path)).deliver(deliver_order(frames, "demo/sq/master/fresh"))
    assert_same_deliverables(store, here, fresh)


def test_a_delivery_of_another_master_than_the_one_fed_encodes_it_from_scratch(store, tmp_path):
    node = MasterNode(str(tmp_path))
    first = stitch(node, store, PARTS["sh010"], "sh010", TIMELINE)
    frames = first[:2]  # not what was fed: the fed encodes are dropped
    here = node.deliver(deliver_order(frames, "demo/sq/master/here"))
    fresh = MasterNode(str(tmp_path)).deliver(deliver_order(frames, "demo/sq/master/fresh"))
    assert_same_deliverables(store, here, fresh)


def test_a_master_stitched_without_a_timeline_is_read_once_per_encode(store, tmp_path):
    node = MasterNode(str(tmp_path))
    frames = stitch(node, store)
    counting = CountingReads(node.store)
    node.store = counting
    node.deliver(deliver_order(frames, "demo/sq/master/here"))
    master_reads = [k for k in counting.reads if "/master/exr/" in k]
    assert sorted(master_reads) == sorted([f.key for f in frames] * 2 + [frames[0].key])


def test_a_bad_master_frame_fails_the_delivery_naming_its_shot_and_leaves_no_encode_running(store, tmp_path):
    node = MasterNode(str(tmp_path))
    frames = stitch(node, store)
    store.put(frames[2].key, b"not the frame the log recorded")
    with pytest.raises(SourceFrameBad, match="sh010"):
        node.deliver(deliver_order(frames, "demo/sq/master/bad"))
    assert not store.exists("demo/sq/master/bad/hdr10.mp4")
    assert not store.exists("demo/sq/master/bad/review_sdr.mp4")
    assert not [t.name for t in threading.enumerate() if t.name.startswith(("encode-", "hdr10-convert"))]


def test_a_sequence_that_ends_before_its_delivery_leaves_no_encode_running_and_no_files(store, tmp_path):
    node = MasterNode(str(tmp_path))
    stitch(node, store, PARTS["sh010"], "sh010", TIMELINE)  # fed: its encodes wait for sh020
    folder = node._timelines["demo:sq"].encodes._dir
    assert folder.is_dir() and [t for t in threading.enumerate() if t.name.startswith("encode-")]
    assert node.forget("demo:sq")  # the sequence failed, was cancelled or delivered
    assert not [t.name for t in threading.enumerate() if t.name.startswith(("encode-", "hdr10-convert"))]
    assert not folder.exists()
    assert not node.forget("demo:sq")
