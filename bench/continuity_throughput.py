"""How many cuts a second the continuity check handles on 1080p frames, beside reading them.

For each device (CPU, and CUDA when there is one) it times check_cut on
1920x1080 frame pairs of three kinds: a clean cut, a cut whose right shot
needs a match grade (the fit runs), and a cut whose right shot is relit (a
re-render is proposed, no fit), with torch on one CPU thread and on all of
them. Next to it: decoding the two EXR frames with
pipelines.exr, which a check actor pays on every cut, and building the report
row (four thumbnails). Medians of REPEATS runs, after a warm-up.
Run from the repository root: .venv/bin/python bench/continuity_throughput.py
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pipelines.color.cdl import CDL
from pipelines.continuity.check import check_cut
from pipelines.continuity.cut import Cut, CutSide
from pipelines.continuity.report import CutReport
from pipelines.exr import decode_frame, encode_frame
from pipelines.spec.loading import load_sequence

REPEATS = 15
EXAMPLE = Path(__file__).parents[1] / "examples" / "continuity_errors.yaml"


def hdr_frame(seed: int, h: int = 1080, w: int = 1920) -> np.ndarray:
    """A 1080p scene-linear frame: smooth light over four stops, coloured materials, render grain."""
    g = np.random.default_rng(seed)
    light = np.asarray(Image.fromarray(g.normal(size=(27, 48)).astype(np.float32)).resize((w, h), Image.Resampling.BICUBIC))
    albedo = np.asarray(Image.fromarray((g.uniform(0.2, 0.9, (54, 96, 3)) * 255).astype(np.uint8)).resize((w, h)))
    grain = g.normal(1.0, 0.08, (h, w, 1)).astype(np.float32)
    return (np.exp2(-2 + light)[..., None] * (albedo / 255.0) * grain).astype(np.float32)


def timed_ms(fn: Callable[[], object]) -> tuple[float, float]:
    """(median, best) milliseconds; the best shows the cost on a machine nobody else is using."""
    fn()  # warm-up: first torch calls allocate and pick kernels
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, min(times) * 1000


def main() -> None:
    seq = load_sequence(EXAMPLE).with_quality(resolution=(1920, 1080))
    left_px, right_px = hdr_frame(1), hdr_frame(2)
    files = [encode_frame(px, fps=Fraction(24), timecode=(1, 0, 0, i), attributes={"shot": "bench"})
             for i, px in enumerate((left_px, right_px))]
    print(f"1920x1080 frame pairs; torch {torch.__version__}, {torch.get_num_threads()} CPU threads; "
          f"EXR PIZ half, {sum(map(len, files)) / 2 / 1e6:.1f} MB a frame")
    read, read_best = timed_ms(lambda: [decode_frame(f) for f in files])
    print(f"  read both EXR frames (decode_frame x2): {read:7.1f} ms (best {read_best:.1f})")

    # sh010 > sh020 of the example: cameras 69 degrees apart on one side of the line.
    left = CutSide.of(seq, "sh010", 1020, left_px)
    relit = CutSide.of(seq, "sh020", 1021, right_px)  # its sun is doubled: lighting proposes a re-render
    one_rig = relit.with_shot(relit.shot.model_copy(update={"lights": None}))
    sides = {
        "clean": dataclasses.replace(one_rig, pixels=left_px[:, ::-1].copy()),
        "grade fit": dataclasses.replace(
            one_rig.with_shot(one_rig.shot.model_copy(update={"grade": CDL(slope=(1.9, 1.7, 1.4))})), pixels=right_px
        ),
        "relit (requeue)": relit,
    }
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    default_threads = torch.get_num_threads()
    if not torch.cuda.is_available():
        print("  (no CUDA device on this machine: CPU only)")
    runs = [("cpu", 1), ("cpu", torch.get_num_threads())] + [("cuda", torch.get_num_threads())] * ("cuda" in devices)
    for device, threads in dict.fromkeys(runs):
        # The statistics run on ~130 k sampled pixels: too little work to share between busy cores.
        torch.set_num_threads(threads)
        for name, right_side in sides.items():
            # Fresh sides each run: a check actor gets new frames for every cut, and a side caches
            # its NaN scan.
            ms, best = timed_ms(lambda: check_cut(Cut(dataclasses.replace(left), dataclasses.replace(right_side), device)))
            found = sorted(f.rule for f in check_cut(Cut(left, right_side, device)))
            print(f"  {device:4} {threads} thr check_cut, {name:15}: {ms:6.1f} ms (best {best:5.1f}) = {1000 / ms:5.1f} cuts/s, "
                  f"{1000 / (ms + read):4.1f} with the reads; findings: {', '.join(found) or 'none'}")
    torch.set_num_threads(default_threads)
    cut = Cut(left, sides["grade fit"])
    findings = check_cut(cut)
    ms, best = timed_ms(lambda: CutReport.build(cut, findings))
    print(f"  report row (before/after thumbnails, 320 wide): {ms:7.1f} ms (best {best:.1f})")


if __name__ == "__main__":
    main()
