"""EXR master write rate of pipelines.exr.encode_frame, as a ratio to raw OpenEXR.

Run by hand (never from the tests):  .venv/bin/python bench/exr_master_bench.py --frames 24

Both sides write the same float32 1920x1080 ACEScg frames as half-float,
PIZ-compressed scanline files to a temporary directory, with the same
OpenEXR thread count (the one pipelines.exr sets at import).
- ours: encode_frame (validation, half conversion, pixel checksum, full
  header with timecode and attributes) to bytes, then one file write.
- raw: float32 -> float16 and OpenEXR.File(...).write(path) with only the
  compression set; the half conversion is counted because the frames arrive
  as float32 and either writer must do it.
- raw, halves ready: the library alone on pre-converted halves (reported for
  information, not the goal).
Runs alternate so drift in machine load hits all sides; the best run of each
is compared. No threshold is asserted: the goal line only reports.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import OpenEXR
from hdr10_bench import synthetic_frames  # same natural-image-like content

from pipelines.exr import encode_frame, timecode

GOAL = 0.9
FPS = Fraction(24)


def ours(frames: list[np.ndarray], out: Path) -> float:
    start = time.perf_counter()
    for i, f in enumerate(frames):
        data = encode_frame(f, fps=FPS, timecode=timecode(i, FPS), attributes={"shot": "sh010", "frame": 1001 + i})
        (out / f"ours.{1001 + i}.exr").write_bytes(data)
    return time.perf_counter() - start


def raw(frames: list[np.ndarray], out: Path, *, convert: bool) -> float:
    header = {"compression": OpenEXR.PIZ_COMPRESSION, "type": OpenEXR.scanlineimage}
    start = time.perf_counter()
    for i, f in enumerate(frames):
        half = f.astype(np.float16) if convert else f
        with OpenEXR.File(header, {"RGB": half}) as exr:
            exr.write(str(out / f"raw.{1001 + i}.exr"))
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    args = ap.parse_args()
    n = args.frames
    frames = synthetic_frames(n, args.width, args.height)
    halves = [f.astype(np.float16) for f in frames]

    t_ours, t_raw, t_lib = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for _ in range(args.repeats):
            t_raw.append(raw(frames, out, convert=True))
            t_ours.append(ours(frames, out))
            t_lib.append(raw(halves, out, convert=False))
        mb_ours = sum(p.stat().st_size for p in out.glob("ours.*")) / n / 1e6
        mb_raw = sum(p.stat().st_size for p in out.glob("raw.*")) / n / 1e6

    fps_ours, fps_raw, fps_lib = n / min(t_ours), n / min(t_raw), n / min(t_lib)
    ratio = fps_ours / fps_raw
    print(f"{n} frames {args.width}x{args.height} RGB half PIZ, {os.cpu_count()} CPUs, "
          f"OpenEXR {OpenEXR.__version__} threads {OpenEXR.global_thread_count()}")  # fmt: skip
    print(f"raw OpenEXR from float32:   {fps_raw:6.2f} frames/s  ({mb_raw:.2f} MB/frame)")
    print(f"encode_frame + write:       {fps_ours:6.2f} frames/s  ({mb_ours:.2f} MB/frame)")
    print(f"raw OpenEXR, halves ready:  {fps_lib:6.2f} frames/s  (ratio to it {fps_ours / fps_lib:.3f}, info only)")
    print(f"ratio {ratio:.3f}  goal >= {GOAL}: {'PASS' if ratio >= GOAL else 'MISS'}")


if __name__ == "__main__":
    main()
