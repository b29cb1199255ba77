"""One-pass HDR10: the frames read once, the file byte for byte the two-pass one."""

from __future__ import annotations

import threading
from fractions import Fraction

import numpy as np
import pytest

from pipelines.master.hdr10 import hdr10_from_master
from pipelines.master.hdr10_measured import StreamTooLong, encode_hdr10_measured

W, H = 64, 36
FPS = Fraction(24)


def frames(scale: float, n: int = 6) -> list[np.ndarray]:
    rng = np.random.default_rng(int(scale * 1000))
    return [rng.random((H, W, 3), dtype=np.float32) * np.float32(scale) for _ in range(n)]


@pytest.mark.parametrize("scale", [0.0, 0.05, 2.0, 60.0])
def test_one_pass_writes_the_bytes_of_two_passes_reading_each_frame_once(tmp_path, scale):
    master = frames(scale)
    two = hdr10_from_master(master.__getitem__, len(master), tmp_path / "two.mp4", fps=FPS, width=W, height=H, preset="ultrafast")
    reads = []

    def once():
        for i, f in enumerate(master):
            reads.append(i)
            yield f

    one = encode_hdr10_measured(once(), tmp_path / "one.mp4", fps=FPS, width=W, height=H, preset="ultrafast")
    assert reads == list(range(len(master)))
    assert (one.maxcll, one.maxfall, one.frames) == (two.maxcll, two.maxfall, two.frames)
    assert (tmp_path / "one.mp4").read_bytes() == (tmp_path / "two.mp4").read_bytes()


def test_frames_may_arrive_slowly_from_another_thread(tmp_path):
    master = frames(2.0, 4)
    gate = threading.Semaphore(0)

    def slow():
        for f in master:
            gate.acquire()
            yield f

    feeder = threading.Thread(target=lambda: [gate.release() for _ in master])
    feeder.start()
    report = encode_hdr10_measured(slow(), tmp_path / "slow.mp4", fps=FPS, width=W, height=H, preset="ultrafast")
    feeder.join()
    assert report.frames == 4


def test_a_stream_too_long_to_wait_for_its_levels_leaves_no_file(tmp_path):
    with pytest.raises(StreamTooLong):
        encode_hdr10_measured(frames(2.0), tmp_path / "x.mp4", fps=FPS, width=W, height=H, preset="ultrafast", max_held=100)
    assert list(tmp_path.iterdir()) == []


def test_a_failing_frame_source_leaves_no_file(tmp_path):
    def broken():
        yield frames(1.0, 1)[0]
        raise OSError("store gone")

    with pytest.raises(OSError, match="store gone"):
        encode_hdr10_measured(broken(), tmp_path / "x.mp4", fps=FPS, width=W, height=H, preset="ultrafast")
    assert list(tmp_path.iterdir()) == []
