"""HDR10 encode rate of encode_hdr10, as a ratio to bare PyAV/x265.

Run by hand (never from the tests):  .venv/bin/python bench/hdr10_bench.py --frames 24

Both sides encode the same 1920x1080 frames with the same x265 settings.
The baseline gets frames already converted to 10-bit Y'CbCr planes (output
transform and matrix done before its clock starts) and only copies them into
PyAV frames and encodes; encode_hdr10 starts from scene-linear ACEScg. The
ratio (ours / bare, in frames per second) is what our per-frame colour work
costs on top of x265. Runs alternate (bare, ours, bare, ours, ...) so drift in
machine load hits both; the best run of each is compared. No threshold is
asserted: the goal line only reports.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from pipelines.color.pq import BT2020_KB, BT2020_KR, acescg_to_pq_bt2020
from pipelines.master.hdr10 import _x265_params, encode_hdr10, measure_light_levels, video_frame, ycbcr420

GOAL = 0.8


def synthetic_frames(n: int, width: int, height: int) -> list[np.ndarray]:
    """A graded sky-like ramp with texture and a moving specular highlight."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = (0.01 * np.exp2(9.0 * xx / width))[..., None] * np.array([0.9, 1.0, 1.2], np.float32)
    frames = []
    for i in range(n):
        f = base * (1.0 + 0.25 * np.sin((yy[..., None] + 7 * i) / 23.0) * np.cos(xx[..., None] / 41.0))
        x0 = 200 + 20 * i
        f[300:420, x0 : x0 + 160] = (400.0, 380.0, 300.0)  # beyond the 1000-nit view's peak
        frames.append(f.astype(np.float32))
    return frames


def bare(planes: list[tuple[np.ndarray, ...]], path: Path, width: int, height: int, params: str, preset: str) -> float:
    start = time.perf_counter()
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx265", rate=Fraction(24), options={"x265-params": params, "preset": preset, "crf": "18"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p10le"
        stream.codec_tag = "hvc1"
        cc = stream.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 9, 16, 9, 1
        for i, p in enumerate(planes):
            vf = video_frame(p, "yuv420p10le", width, height)
            vf.pts = i
            container.mux(stream.encode(vf))
        container.mux(stream.encode(None))
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    args = ap.parse_args()
    w, h, n = args.width, args.height, args.frames

    frames = synthetic_frames(n, w, h)
    pq_frames = [acescg_to_pq_bt2020(f) for f in frames]  # also bakes the LUT outside the clock
    maxcll, maxfall = measure_light_levels(pq_frames)
    planes = [ycbcr420(p, kr=BT2020_KR, kb=BT2020_KB, bits=10) for p in pq_frames]
    del pq_frames
    params = _x265_params(maxcll, maxfall, 1000)

    t_bare, t_ours = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            t_bare.append(bare(planes, Path(tmp) / "bare.mp4", w, h, params, args.preset))
            start = time.perf_counter()
            encode_hdr10(
                iter(frames), Path(tmp) / "ours.mp4", fps=Fraction(24), width=w, height=h,
                maxcll=maxcll, maxfall=maxfall, preset=args.preset,
            )  # fmt: skip
            t_ours.append(time.perf_counter() - start)
        sizes = {name: os.path.getsize(Path(tmp) / name) for name in ("bare.mp4", "ours.mp4")}

    fps_bare, fps_ours = n / min(t_bare), n / min(t_ours)
    ratio = fps_ours / fps_bare
    print(f"{n} frames {w}x{h}, x265 preset {args.preset}, {os.cpu_count()} CPUs, MaxCLL/FALL {maxcll}/{maxfall}")
    print(f"bare PyAV (pre-converted planes): {fps_bare:6.2f} frames/s  runs {[round(t, 2) for t in t_bare]} s")
    print(f"encode_hdr10 (from ACEScg):       {fps_ours:6.2f} frames/s  runs {[round(t, 2) for t in t_ours]} s")
    print(f"sizes: bare {sizes['bare.mp4']} B, ours {sizes['ours.mp4']} B")
    print(f"ratio {ratio:.3f}  goal >= {GOAL}: {'PASS' if ratio >= GOAL else 'MISS'}")


if __name__ == "__main__":
    main()
