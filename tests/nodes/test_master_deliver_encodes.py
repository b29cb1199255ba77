"""MasterNode deliverables: light levels measured as the master is stitched, encodes side by side."""

from __future__ import annotations

import threading
from fractions import Fraction

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


def stitch(node: MasterNode, store: LocalStore) -> tuple[StoredFrame, ...]:
    layers = [SourceFrame(frame=f, layers=(SourceLayer(shot="sh010", source=source(store, f), weight=1.0),)) for f in FRAMES]
    order = SegmentOrder(
        sequence_id="demo:sq", segment="sh010", fingerprint="f", frames=tuple(layers), resolution=(W, H),
        key_prefix="demo/sq/master", fps=Fraction(24), start_timecode="01:00:00:00", timeline_first=1001,
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
        labels=tuple(f"sh010  {f.frame}" for f in frames),
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


def test_a_master_stitched_here_is_read_once_per_encode_and_delivers_the_same_bytes(store, tmp_path):
    stitched_here = MasterNode(str(tmp_path))
    frames = stitch(stitched_here, store)
    counting = CountingReads(stitched_here.store)
    stitched_here.store = counting
    here = stitched_here.deliver(deliver_order(frames, "demo/sq/master/here"))
    master_reads = [k for k in counting.reads if "/master/exr/" in k]
    # HDR10's light levels were measured at the stitch: one read for its encode, one for the proxy's, one for the sheet.
    assert sorted(master_reads) == sorted([f.key for f in frames] * 2 + [frames[0].key])

    fresh = MasterNode(str(tmp_path)).deliver(deliver_order(frames, "demo/sq/master/fresh"))
    assert (here.maxcll, here.maxfall) == (fresh.maxcll, fresh.maxfall)
    for name in ("hdr10.mp4", "review_sdr.mp4"):
        assert store.get(here.deliverables[name].key) == store.get(fresh.deliverables[name].key)
        assert here.deliverables[name].digest == fresh.deliverables[name].digest


def test_a_bad_master_frame_fails_the_delivery_naming_its_shot_and_leaves_no_encode_running(store, tmp_path):
    node = MasterNode(str(tmp_path))
    frames = stitch(node, store)
    store.put(frames[2].key, b"not the frame the log recorded")
    with pytest.raises(SourceFrameBad, match="sh010"):
        node.deliver(deliver_order(frames, "demo/sq/master/bad"))
    assert not store.exists("demo/sq/master/bad/hdr10.mp4")
    assert not store.exists("demo/sq/master/bad/review_sdr.mp4")
    assert not [t.name for t in threading.enumerate() if t.name.startswith(("deliver", "hdr10-convert"))]
