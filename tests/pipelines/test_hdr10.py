import contextlib
import json
import os
import shutil
import subprocess
import threading
from fractions import Fraction

import av
import numpy as np
import pytest

from pipelines.color.pq import pq_encode, pq_to_code10
from pipelines.color.views import hdr_pq, to_display
from pipelines.master.hdr10 import (
    LightLevelError,
    encode_frames,
    encode_hdr10,
    frame_light_levels,
    hdr10_from_master,
    master_light_levels,
    measure_light_levels,
    prefetched,
)

W, H = 128, 72
FPS = Fraction(24)
# In CI a missing ffprobe is a broken image and must fail, not skip.
needs_ffprobe = pytest.mark.skipif(
    shutil.which("ffprobe") is None and not os.environ.get("CI"), reason="ffprobe (Debian ffmpeg) is not installed"
)


def ffprobe(*args: str) -> dict:
    exe = shutil.which("ffprobe")
    assert exe, "ffprobe is required (apt-get install ffmpeg)"
    out = subprocess.run([exe, "-v", "error", "-of", "json", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def master_frame(i: int) -> np.ndarray:
    """A 9-stop ramp, a coloured square and a highlight past the display peak."""
    xx = np.linspace(0.0, 1.0, W, dtype=np.float32)[None, :, None]
    f = np.broadcast_to(0.01 * np.exp2(9.0 * xx) * np.array([1.0, 0.9, 0.8], np.float32), (H, W, 3)).copy()
    f[10:30, 10 + 4 * i : 40 + 4 * i] = (0.6, 0.05, 0.02)
    f[40:60, 80:110] = 50.0 * (i + 1)
    return f


def decoded_planes(path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    out = []
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            assert frame.format.name == "yuv420p10le"
            planes = []
            for plane, (w, h) in zip(frame.planes, [(W, H), (W // 2, H // 2), (W // 2, H // 2)]):
                planes.append(np.frombuffer(plane, np.uint16).reshape(h, -1)[:, :w].copy())
            out.append(tuple(planes))
    return out


def test_light_levels_follow_cta_861_3():
    hundred = np.full((4, 4, 3), pq_encode(100.0), np.float32)
    bright = hundred.copy()
    bright[0, 0, 1] = pq_encode(1000.0)  # one pixel, green only: max(R,G,B) counts it
    dim = np.full((4, 4, 3), pq_encode(50.0), np.float32)
    maxcll, maxfall = measure_light_levels([dim, bright, hundred])
    assert maxcll == 1000
    assert maxfall == round((15 * 100 + 1000) / 16)  # frame average of max(R,G,B), max over frames
    with pytest.raises(ValueError):
        measure_light_levels([])


@needs_ffprobe
def test_hdr10_file_signals_hdr10_and_its_measured_light_levels(tmp_path):
    frames = [master_frame(i) for i in range(4)]
    expected = measure_light_levels(to_display(f, hdr_pq()) for f in frames)
    calls = []

    def read(i: int) -> np.ndarray:
        calls.append(i)
        return frames[i]

    out = tmp_path / "master.mp4"
    report = hdr10_from_master(read, 4, out, fps=FPS, width=W, height=H, preset="ultrafast")
    assert calls == [0, 1, 2, 3, 0, 1, 2, 3]  # two passes, nothing held between them
    assert (report.maxcll, report.maxfall) == expected
    assert report.frames == 4 and report.path == str(out)
    assert 900 <= expected[0] <= 1000 and 0 < expected[1] < expected[0]
    assert list(tmp_path.iterdir()) == [out]  # no partial file left behind

    (stream,) = ffprobe(
        "-show_entries",
        "stream=codec_name,codec_tag_string,profile,pix_fmt,color_space,color_transfer,color_primaries,color_range",
        str(out),
    )["streams"]
    assert stream == {
        "codec_name": "hevc",
        "codec_tag_string": "hvc1",
        "profile": "Main 10",
        "pix_fmt": "yuv420p10le",
        "color_space": "bt2020nc",
        "color_transfer": "smpte2084",
        "color_primaries": "bt2020",
        "color_range": "tv",
    }
    (first,) = ffprobe("-read_intervals", "%+#1", "-show_frames", "-show_entries", "frame=side_data_list", str(out))[
        "frames"
    ]
    side = {d["side_data_type"]: d for d in first["side_data_list"]}
    cll = side["Content light level metadata"]
    assert (cll["max_content"], cll["max_average"]) == expected
    mdcv = side["Mastering display metadata"]
    assert (mdcv["red_x"], mdcv["red_y"], mdcv["white_point_x"]) == ("34000/50000", "16000/50000", "15635/50000")
    assert mdcv["max_luminance"] == "10000000/10000"


def test_a_1000_nit_patch_decodes_to_the_pq_code(tmp_path):
    # Far above the view's roll-off, the output transform gives exactly the
    # 1000-nit display peak on a neutral.
    patch = np.full((H, W, 3), 1.0e4, np.float32)
    out = tmp_path / "patch.mp4"
    encode_hdr10([patch, patch], out, fps=FPS, width=W, height=H, maxcll=1000, maxfall=1000, preset="ultrafast")
    expected = 64 + 876 * 0.7518
    assert int(pq_to_code10(pq_encode(1000.0))) == round(expected)
    for y, cb, cr in decoded_planes(out):
        assert np.abs(y.astype(float) - expected).max() <= 2
        assert np.abs(cb.astype(int) - 512).max() <= 2 and np.abs(cr.astype(int) - 512).max() <= 2


def test_understated_light_levels_leave_no_file(tmp_path):
    out = tmp_path / "bad.mp4"
    frames = [master_frame(i) for i in range(2)]
    with pytest.raises(LightLevelError):
        encode_hdr10(frames, out, fps=FPS, width=W, height=H, maxcll=100, maxfall=10, preset="ultrafast")
    assert list(tmp_path.iterdir()) == []


def test_a_failing_frame_source_stops_everything_and_leaves_no_file(tmp_path):
    def frames():
        yield master_frame(0)
        raise OSError("store went away")

    with pytest.raises(OSError, match="store went away"):
        encode_hdr10(frames(), tmp_path / "x.mp4", fps=FPS, width=W, height=H, maxcll=1000, maxfall=500)
    assert list(tmp_path.iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name == "hdr10-convert"]


def test_prefetch_stays_bounded_and_stops_when_closed_early():
    produced = []

    def items():
        for i in range(1000):
            produced.append(i)
            yield i

    with contextlib.closing(prefetched(items(), lambda x: 2 * x, depth=2)) as it:
        assert [next(it), next(it)] == [0, 2]
    assert len(produced) <= 5  # two handed out, at most two queued, one in hand
    assert not [t for t in threading.enumerate() if t.name == "hdr10-convert"]


def test_refuses_bad_input(tmp_path):
    out = tmp_path / "x.mp4"
    kw = dict(fps=FPS, width=W, height=H, preset="ultrafast")
    with pytest.raises(ValueError, match="MaxFALL"):
        encode_hdr10([master_frame(0)], out, maxcll=100, maxfall=200, **kw)
    with pytest.raises(ValueError, match="expected"):
        encode_hdr10([np.zeros((H, W + 2, 3), np.float32)], out, maxcll=1000, maxfall=100, **kw)
    with pytest.raises(ValueError, match="no frames"):
        encode_hdr10([], out, maxcll=1000, maxfall=100, **kw)
    with pytest.raises(ValueError, match="count"):
        hdr10_from_master(master_frame, 0, out, fps=FPS, width=W, height=H)
    assert list(tmp_path.iterdir()) == []


class Encoder:
    """A stream whose encoder hands each frame's packet straight back, its DTS as given."""

    def __init__(self, dts: dict[int, int]):
        self.dts = dts

    def encode(self, frame: av.VideoFrame | None) -> list[av.Packet]:
        if frame is None:
            return []
        p = av.Packet(b"\x00")
        p.pts, p.dts = frame.pts, self.dts[frame.pts]
        return [p]


def encoded_stamps(dts: dict[int, int]) -> list[tuple[int, int]]:
    muxed: list[av.Packet] = []
    frames = (av.VideoFrame(16, 16, "yuv420p") for _ in dts)
    encode_frames(None, Encoder(dts), frames, (9, 16, 9, 1), mux=muxed.extend)  # type: ignore[arg-type]
    return [(p.pts, p.dts) for p in muxed]


def test_a_clip_shorter_than_x265s_b_frame_delay_decodes_in_presentation_order():
    # x265 times its B-frame delay at the third frame: a shorter clip's DTS come from uninitialised memory,
    # garbage the muxer refuses, or a freed encoder's delay that looks real and changes the file's bytes.
    assert encoded_stamps({0: -93991535334080, 1: -93991535334079}) == [(0, 0), (1, 1)]
    assert encoded_stamps({0: -1, 1: 0}) == [(0, 0), (1, 1)]
    assert encoded_stamps({0: -2}) == [(0, 0)]
    # A longer clip's own DTS (B-frames, delay 2) are left alone.
    assert encoded_stamps({0: -2, 1: -1, 2: 0}) == [(0, -2), (1, -1), (2, 0)]


def test_two_frame_clips_encode_every_time(tmp_path):
    frames = [master_frame(i) for i in range(2)]
    for i in range(8):  # the uninitialised DTS showed up in most runs on a busy machine
        encode_hdr10(frames, tmp_path / f"{i}.mp4", fps=FPS, width=W, height=H, maxcll=10000, maxfall=10000, preset="ultrafast")
    assert len(list(tmp_path.glob("*.mp4"))) == 8


def test_frames_whose_light_levels_are_known_are_read_once_and_the_file_is_the_same(tmp_path):
    frames = [master_frame(i) for i in range(4)]
    reads: list[int] = []

    def read(i: int) -> np.ndarray:
        reads.append(i)
        return frames[i]

    measured = hdr10_from_master(read, 4, tmp_path / "measured.mp4", fps=FPS, width=W, height=H, preset="ultrafast")
    assert sorted(reads) == [0, 0, 1, 1, 2, 2, 3, 3]
    reads.clear()
    known = {i: master_light_levels(frames[i]) for i in (0, 2, 3)}
    given = hdr10_from_master(read, 4, tmp_path / "given.mp4", fps=FPS, width=W, height=H, preset="ultrafast", known_levels=known.get)
    assert sorted(reads) == [0, 1, 1, 2, 3]
    assert (given.maxcll, given.maxfall) == (measured.maxcll, measured.maxfall)
    assert (tmp_path / "given.mp4").read_bytes() == (tmp_path / "measured.mp4").read_bytes()
    assert known[3] == measure_light_levels_of(frames[3])


def measure_light_levels_of(rgb: np.ndarray) -> tuple[float, float]:
    return frame_light_levels(to_display(rgb, hdr_pq()))


def test_known_light_levels_that_understate_a_frame_leave_no_file(tmp_path):
    frames = [master_frame(i) for i in range(2)]
    with pytest.raises(LightLevelError):
        hdr10_from_master(frames.__getitem__, 2, tmp_path / "x.mp4", fps=FPS, width=W, height=H, preset="ultrafast",
                          known_levels=lambda i: (100.0, 10.0))  # fmt: skip
    assert list(tmp_path.iterdir()) == []
