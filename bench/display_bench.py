"""Display transforms: speed per 1080p frame and error of the baked views against OCIO's exact ones.

Run by hand (never from the tests):  .venv/bin/python bench/display_bench.py

Speed: the baked SDR view (what the review proxy and thumbnails use), OCIO's
exact processor (``--exact`` delivery) and, as the baseline measured in the
same run, the fitted ACES 1.0 curve (Narkowicz 2016, per channel on linear
Rec.709) that the farm used before every picture came from the pinned
config. Each is timed on the same natural-looking ACEScg frame; best of
``--repeats``, reported as milliseconds and as a ratio to the baked view.

Error: the baked views against the exact ones on three colour sets
(``--colours`` each): inside Rec.709 and inside P3-D65 at 0.001..16
scene-linear, and saturated (-0.3..1 of a level 0.001..100, out of AP1);
with ``--master DIR``, also on every pixel of the rendered master EXRs in
DIR (e.g. out/demo/teaser/master/exr after `shotfarm render`).
SDR in 8-bit codes, HDR in 10-bit narrow-range codes. No threshold is
asserted here; tests/pipelines/test_views.py holds the bounds.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipelines.color.views import SDR_REC1886, SDR_SRGB, View, config, hdr_pq, to_display, to_display_planar
from pipelines.exr import decode_frame

# The replaced curve, kept here only as the speed baseline.
_ACESCG_TO_REC709 = np.array(
    [[1.70505099, -0.62179212, -0.08325887], [-0.13025642, 1.14080474, -0.01054832], [-0.02400336, -0.12896898, 1.15297233]],
    dtype=np.float32,
)


def fitted_aces1(rgb: np.ndarray) -> np.ndarray:
    x = np.clip(rgb @ _ACESCG_TO_REC709.T, 0.0, 65504.0) * np.float32(0.6)
    mapped = np.clip((x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14), 0.0, 1.0)
    return np.where(mapped <= 0.0031308, 12.92 * mapped, 1.055 * np.power(mapped, 1 / 2.4) - 0.055)


def frame(width: int = 1920, height: int = 1080) -> np.ndarray:
    rng = np.random.default_rng(0)
    ramp = np.geomspace(0.002, 16.0, width, dtype=np.float32)[None, :, None]
    tint = np.exp(rng.normal(0.0, 0.3, (height, 1, 3))).astype(np.float32)
    return np.ascontiguousarray(ramp * tint)


def best_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # bakes the view outside the clock
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) * 1000.0


def _to_acescg(space: str, rgb: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(rgb, dtype=np.float32)
    config().getProcessor(space, "ACEScg").getDefaultCPUProcessor().applyRGB(out)
    return out[None]


def colour_sets(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    sets = {}
    for name, space in (("Rec.709", "Linear Rec.709 (sRGB)"), ("P3", "Linear P3-D65")):
        chroma = rng.random((n, 3))
        chroma /= chroma.max(axis=1, keepdims=True)
        sets[name] = _to_acescg(space, chroma * np.exp(rng.uniform(np.log(0.001), np.log(16.0), (n, 1))))
    level = np.exp(rng.uniform(np.log(0.001), np.log(100.0), (n, 1)))
    sets["saturated"] = (rng.uniform(-0.3, 1.0, (n, 3)) * level).astype(np.float32)[None]
    return sets


def error_line(view: View, scale: float, sets: dict[str, np.ndarray]) -> str:
    parts = []
    for name, rgb in sets.items():
        err = np.abs(to_display(rgb, view) - to_display(rgb, view, exact=True)).astype(np.float64) * scale
        parts.append(f"{name} median {np.median(err):.3f} p99 {np.percentile(err, 99):.2f} max {err.max():.2f}")
    return f"{view.display:28s} " + " | ".join(parts)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--colours", type=int, default=200_000)
    p.add_argument("--master", type=Path, help="a folder of master EXRs to measure the error on as well")
    args = p.parse_args()
    rgb = frame()
    baked = best_ms(lambda: to_display_planar(rgb, SDR_REC1886), args.repeats)
    rows = [
        ("fitted ACES 1.0 curve (replaced)", best_ms(lambda: fitted_aces1(rgb), args.repeats)),
        ("SDR Rec.1886 view, baked", baked),
        ("SDR Rec.1886 view, exact", best_ms(lambda: to_display_planar(rgb, SDR_REC1886, exact=True), max(1, args.repeats // 2))),
        ("HDR PQ 1000-nit view, baked", best_ms(lambda: to_display_planar(rgb, hdr_pq()), args.repeats)),
    ]
    print("per 1920x1080 frame, best of runs (ratio to the baked SDR view):")
    for name, ms in rows:
        print(f"  {name:34s} {ms:8.1f} ms  x{ms / baked:.2f}")
    sets = colour_sets(args.colours)
    if args.master:
        frames = [decode_frame(f.read_bytes())[0].reshape(1, -1, 3) for f in sorted(args.master.glob("*.exr"))]
        sets[f"{len(frames)} master frames"] = np.concatenate(frames, axis=1)
    print(f"baked vs exact, {args.colours} colours per random set (SDR: 8-bit codes, HDR: 10-bit narrow codes):")
    for view, scale in ((SDR_SRGB, 255.0), (SDR_REC1886, 255.0), (hdr_pq(1000), 876.0)):
        print("  " + error_line(view, scale, sets))


if __name__ == "__main__":
    main()
