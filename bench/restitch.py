"""Partial re-stitch against a full stitch of the master, measured in one run.

Builds a synthetic sequence of rendered shot frames in a temporary store,
then times (a) stitching every segment and making the deliverables, as the
first master does, and (b) stitching one shot's segment and making the
deliverables, as a re-render of that shot does. Prints both and the ratio.

    .venv/bin/python bench/restitch.py [--shots 8] [--frames 24] [--width 960 --height 540]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction

import numpy as np

from nodes.actors.master import MasterNode
from nodes.protocol import DeliverOrder, SegmentOrder, SheetTile, SourceFrame, SourceLayer, StoredFrame
from nodes.storage.local import LocalStore
from pipelines.exr import encode_frame
from pipelines.master.conform import conform
from pipelines.master.segments import segment_frames, segments
from pipelines.spec.loading import parse_sequence


def spec(shots: int, frames: int, width: int, height: int) -> dict:
    camera = {"keys": [{"frame": 0, "position": [0, 1, 6], "look_at": [0, 1, 0]}]}
    return {
        "show": "bench",
        "sequence": "restitch",
        "resolution": [width, height],
        "scenes": {
            "set": {
                "materials": {"m": {"type": "diffuse"}},
                "objects": [{"type": "plane", "name": "ground", "material": "m"}],
            }
        },
        "shots": [
            {"name": f"sh{i:03d}0", "scene": "set", "frames": {"first": 1001 + i * frames, "last": 1000 + (i + 1) * frames}, "camera": camera}
            for i in range(shots)
        ],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shots", type=int, default=8)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--width", type=int, default=960)
    ap.add_argument("--height", type=int, default=540)
    args = ap.parse_args()
    seq = parse_sequence(spec(args.shots, args.frames, args.width, args.height))
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as root:
        store = LocalStore(root)
        sources: dict[tuple[str, int], StoredFrame] = {}
        for shot in seq.shots:
            base = rng.uniform(0.05, 4.0, (args.height, args.width, 3)).astype(np.float32)
            for f in shot.frames:
                data = encode_frame(base * (1 + 0.01 * (f % 7)), fps=Fraction(24), timecode=(1, 0, 0, 0), attributes={"shot": shot.name})
                key = f"bench/shots/{shot.name}/{f:06d}.exr"
                sources[shot.name, f] = StoredFrame(frame=f, key=key, digest=store.put(key, data))
        node = MasterNode(root)
        plan = segments(seq)

        def stitch(segment) -> tuple[StoredFrame, ...]:
            frames = tuple(
                SourceFrame(frame=m.frame, layers=tuple(SourceLayer(shot=x.shot, weight=x.weight, source=sources[x.shot, x.frame]) for x in m.layers))
                for m in segment_frames(seq, segment)
            )
            order = SegmentOrder(
                sequence_id="bench", segment=segment.name, fingerprint="f", frames=frames, resolution=seq.resolution,
                key_prefix="bench/master", fps=seq.fps, start_timecode=seq.start_timecode, timeline_first=1001,
            )
            return node.stitch_segment(order).frames

        def deliver(master: list[StoredFrame]) -> None:
            sheet = tuple(SheetTile(shot=s.name, label=s.name, source=sources[s.name, s.frames.first]) for s in seq.shots)
            labels = tuple(f"{m.shot} {m.frame}" for m in conform(seq))
            node.deliver(DeliverOrder(sequence_id="bench", title="bench", frames=tuple(master), key_prefix="bench/master",
                                      fps=seq.fps, sheet=sheet, labels=labels, resolution=seq.resolution))

        t0 = time.perf_counter()
        built = {s.name: stitch(s) for s in plan}
        t1 = time.perf_counter()
        deliver([f for s in plan for f in built[s.name]])
        t2 = time.perf_counter()
        one = plan[len(plan) // 2]
        built[one.name] = stitch(one)
        t3 = time.perf_counter()
        deliver([f for s in plan for f in built[s.name]])
        t4 = time.perf_counter()
    full, partial = t2 - t0, t4 - t2
    total = args.shots * args.frames
    print(f"master: {args.shots} shots x {args.frames} frames at {args.width}x{args.height} ({total} frames)")
    print(f"  full stitch      segments {t1 - t0:7.2f} s + deliverables {t2 - t1:6.2f} s = {full:7.2f} s")
    print(f"  re-stitch 1 shot segment  {t3 - t2:7.2f} s + deliverables {t4 - t3:6.2f} s = {partial:7.2f} s")
    print(f"  re-stitch / full = {partial / full:.3f}   (segments alone: {(t3 - t2) / (t1 - t0):.3f})")


if __name__ == "__main__":
    main()
