"""The Blender engine against plain Blender: what the warm process and its protocol cost, and what they save.

Run by hand (needs `make blender`):
    .venv/bin/python bench/blender_engine.py                 # 8 frames of sh010, 320x180, 16 samples
    .venv/bin/python bench/blender_engine.py --frames 4 --chunk 2 --size 64x36 --samples 4

The same frames of examples/blender/sequence.yaml are rendered, in the same run:
  plain   one bpy script in one process of the Blender environment: open the
          file once, then frame_set + render to a multilayer EXR per frame
          (what a hand-written farm script does);
  engine  through the Blender engine, chunk by chunk: one warm process, the
          file opened once, each frame read back and converted to ACEScg.
Both clocks run from starting a process to the last frame written or read;
runs alternate and the best of each counts. CPU time (this process and
Blender's) is printed beside wall time: on a shared machine it is the steadier
measure of what each way costs.
It prints both rates, engine / plain (the goal is >= 0.9x), the largest
difference between the two runs' ACEScg pixels (same seed: they should agree),
and what a warm node saves per chunk: a cold start (start Blender, open the
file, set up the shot) against a warm load of another shot of the same file.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pipelines.render.engines.base import EngineContext
from pipelines.render.engines.blender import output
from pipelines.render.engines.blender.engine import BlenderEngine
from pipelines.render.engines.blender.process import blender_python
from pipelines.spec.loading import load_sequence
from pipelines.spec.setup import ShotSetup, shot_setup

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "blender" / "sequence.yaml"

PLAIN = """
import sys, time, bpy
blend, camera, w, h, samples, seed, threads, out, *frames = sys.argv[1:]
bpy.ops.wm.open_mainfile(filepath=blend)
s = bpy.data.scenes["Scene"]
s.camera = s.objects[camera]
s.render.resolution_x, s.render.resolution_y, s.render.resolution_percentage = int(w), int(h), 100
s.cycles.samples, s.cycles.seed = int(samples), int(seed)
s.cycles.use_adaptive_sampling = s.cycles.use_denoising = s.cycles.use_animated_seed = False
s.render.threads_mode, s.render.threads = "FIXED", int(threads)
s.render.image_settings.media_type = "MULTI_LAYER_IMAGE"
s.render.image_settings.file_format = "OPEN_EXR_MULTILAYER"
s.render.image_settings.color_depth = "32"
for f in frames:
    s.frame_set(int(f))
    s.render.filepath = f"{out}/{f}.exr"
    bpy.ops.render.render(write_still=True)
"""


def _own_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def _cpu() -> float:
    """CPU seconds used so far by this process and its finished children (Blender included, once reaped)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return _own_cpu() + children.ru_utime + children.ru_stime


def _setup(shot: str, size: tuple[int, int], samples: int) -> ShotSetup:
    base = shot_setup(load_sequence(SPEC).with_quality(size, samples), shot)
    assert base.scene.blend is not None
    blend = base.scene.blend.model_copy(update={"file": str(ROOT / base.scene.blend.file)})
    return base.model_copy(update={"scene": base.scene.model_copy(update={"blend": blend})})


def plain(python: Path, setup: ShotSetup, timeline: list[int], threads: int, folder: Path) -> tuple[float, float, list[np.ndarray]]:
    assert setup.scene.blend is not None and setup.blender is not None
    blender_frames = [str(f + setup.blender.frame_offset) for f in timeline]
    w, h = setup.resolution
    args = [setup.scene.blend.file, setup.blender.camera, str(w), str(h), str(setup.samples), str(setup.seed), str(threads), str(folder)]
    start, cpu = time.perf_counter(), _cpu()
    subprocess.run([str(python), "-c", PLAIN, *args, *blender_frames], check=True, capture_output=True)
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    frames = [output.read(folder / f"{f}.exr", "ViewLayer", "lin_rec709_scene", depth=False).pixels for f in blender_frames]
    return seconds, cpu, frames


def engine(python: Path, setup: ShotSetup, timeline: list[int], chunk: int, threads: int, scratch: Path) -> tuple[float, float, float, list[np.ndarray]]:
    """(wall s, CPU s, of which this process's CPU s: protocol, EXR reads, OCIO), frames."""
    start, cpu, own = time.perf_counter(), _cpu(), _own_cpu()
    e = BlenderEngine(EngineContext(scratch=scratch, threads=threads), python=python)
    try:
        e.load(setup)
        frames = []
        for first in range(timeline[0], timeline[-1] + 1, chunk):
            frames += [f.pixels for f in e.render_chunk(first, min(first + chunk - 1, timeline[-1]))]
    finally:
        e.close()  # reaps Blender, so its CPU time is counted
    return time.perf_counter() - start, _cpu() - cpu, _own_cpu() - own, frames


def load_costs(python: Path, setups: tuple[ShotSetup, ShotSetup], scratch: Path) -> tuple[float, float]:
    """(cold: start Blender, open the file, load a shot; warm: load another shot of the same open file)."""
    e = BlenderEngine(EngineContext(scratch=scratch), python=python)
    try:
        t0 = time.perf_counter()
        e.load(setups[0])
        t1 = time.perf_counter()
        e.load(setups[1])
        t2 = time.perf_counter()
    finally:
        e.close()
    return t1 - t0, t2 - t1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--chunk", type=int, default=4, help="frames per engine chunk")
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2, help="alternate runs of each; the best of each is compared")
    args = ap.parse_args(argv)
    python = blender_python()
    if python is None:
        print("no Blender environment: run `make blender`", file=sys.stderr)
        return 2
    w, h = (int(v) for v in args.size.split("x"))
    setup = _setup("sh010", (w, h), args.samples)
    timeline = list(range(setup.cut_first, setup.cut_first + args.frames))

    plain_runs: list[tuple[float, float]] = []
    engine_runs: list[tuple[float, float]] = []
    farm_side: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # Alternated, best of each: the machine's other work lands on both alike.
        for i in range(args.repeat):
            (root / f"plain{i}").mkdir()
            *run, plain_frames = plain(python, setup, timeline, args.threads, root / f"plain{i}")
            plain_runs.append((run[0], run[1]))
            *run, engine_frames = engine(python, setup, timeline, args.chunk, args.threads, root / f"engine{i}")
            engine_runs.append((run[0], run[1]))
            farm_side.append(run[2])
        cold, warm = load_costs(python, (setup, _setup("sh020", (w, h), args.samples)), root / "loads")

    n = len(timeline)
    diff = max(float(np.abs(a - b).max()) for a, b in zip(plain_frames, engine_frames))
    print(f"{n} frames of sh010 at {w}x{h}, {args.samples} samples, {args.threads} thread(s); engine chunks of {args.chunk}; best of {args.repeat}")
    for name, runs in (("plain bpy, one process", plain_runs), ("engine, warm process  ", engine_runs)):
        wall, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
        print(f"{name} : wall {wall:7.2f} s = {n / wall:.3f} frames/s; CPU {cpu:7.2f} s = {n / cpu:.3f} frames/CPU-s")
    wall_ratio = min(r[0] for r in plain_runs) / min(r[0] for r in engine_runs)
    cpu_ratio = min(r[1] for r in plain_runs) / min(r[1] for r in engine_runs)
    print(f"  of the engine's CPU, the farm's side (protocol, EXR read, OCIO to ACEScg): {min(farm_side):.2f} s")
    print(f"engine / plain rate    : {wall_ratio:.3f}x by wall clock, {cpu_ratio:.3f}x by CPU time (goal >= 0.9x)")
    print(f"largest ACEScg difference between the two runs: {diff:.2e}")
    print(f"cold start + file open + load: {cold:.3f} s; warm load of another shot: {warm:.3f} s; saved per chunk: {cold - warm:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
