"""Generated takes: seconds per take through the diffusion engine, and its overhead against the bare pipeline.

Run by hand:  .venv/bin/python bench/generative_takes.py [--model FOLDER] [--takes 4] [--frames 9] [--size 32] [--steps 2] [--device cpu]

Without --model it builds the tiny random-weight Wan of examples/generative
into a temporary folder. Each take (one seed) is made twice, alternating
which goes first: through the engine exactly as a render node drives it
(load the shot, render the chunk: clip, trim, resample, ACEScg through the
inverse SDR view) and by calling the same loaded pipeline directly with the
same inputs (prompt, size, frames, steps, guidance, a CPU generator seeded
alike). The two clips must be bit-identical in display values, or the run
stops. It prints per-take seconds for both, the engine's first load (the
model read from disk), its own work per take timed alone (a load with the
model warm, the conversion to ACEScg), and the ratio of pipeline-only to engine seconds
(goal >= 0.9x: the engine adds at most a tenth).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.render.engines.base import EngineContext  # noqa: E402
from pipelines.render.engines.diffusion import INFO, display  # noqa: E402
from pipelines.render.engines.diffusion.model import offline  # noqa: E402
from pipelines.spec.scene import Scene  # noqa: E402
from pipelines.spec.setup import ShotSetup  # noqa: E402

SET = Scene.model_validate(
    {"materials": {"m": {"type": "diffuse", "albedo": [0.3, 0.3, 0.3]}}, "objects": [{"type": "plane", "name": "g", "material": "m"}]}
)


def setup(model: Path, seed: int, size: int, steps: int) -> ShotSetup:
    return ShotSetup(
        shot=f"take{seed}", engine="diffusion", scene=SET, camera=None, lights=(), resolution=(size, size),
        options={"model": str(model), "prompt": "a street at dusk, slow push in", "seed": seed, "steps": steps},
        samples=1, bounces=1, seed=0, cut_first=1001,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a Wan text-to-video folder (default: build the tiny one)")
    parser.add_argument("--takes", type=int, default=4)
    parser.add_argument("--frames", type=int, default=9)
    parser.add_argument("--size", type=int, default=32, help="square frames, a multiple of 16")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    offline()
    import numpy as np
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            sys.path.insert(0, str(ROOT / "examples" / "generative"))
            from build_tiny_model import build

            model = build(Path(tmp) / "tiny-wan")
        engine = INFO.build(EngineContext(device=args.device, scratch=Path(tmp), threads=torch.get_num_threads()))
        started = time.perf_counter()
        engine.load(setup(model, 0, args.size, args.steps))
        first_load = time.perf_counter() - started
        pipe = engine._pipe  # the same loaded pipeline, so only the engine's own work differs
        list(engine.render_chunk(1001, 1000 + args.frames))  # warm both paths once
        through, bare = [], []
        for take in range(1, args.takes + 1):
            shot = setup(model, take, args.size, args.steps)

            def engine_take() -> float:
                t = time.perf_counter()
                engine.load(shot)
                frames = list(engine.render_chunk(1001, 1000 + args.frames))
                assert len(frames) == args.frames
                return time.perf_counter() - t

            def pipeline_take() -> tuple[float, np.ndarray]:
                t = time.perf_counter()
                with torch.inference_mode():
                    out = pipe(
                        prompt="a street at dusk, slow push in", height=args.size, width=args.size, num_frames=args.frames,
                        num_inference_steps=args.steps, guidance_scale=5.0, generator=torch.Generator("cpu").manual_seed(take),
                        output_type="np",
                    )
                return time.perf_counter() - t, np.asarray(out.frames[0], dtype=np.float32)

            if take % 2:
                e = engine_take()
                b, clip = pipeline_take()
            else:
                b, clip = pipeline_take()
                e = engine_take()
            if not np.array_equal(engine.generate_display(args.frames), clip):
                raise SystemExit(f"take {take}: the engine's clip differs from the pipeline's on the same inputs")
            through.append(e)
            bare.append(b)
            print(f"take {take} (seed {take}): engine {e:.3f} s, pipeline alone {b:.3f} s")
        # The engine's own work, timed alone (the machine's noise hides it in the ratio): a warm load, the ACEScg conversion.
        t = time.perf_counter()
        engine.load(setup(model, args.takes + 1, args.size, args.steps))
        own_load = time.perf_counter() - t
        t = time.perf_counter()
        for picture in clip[: args.frames]:
            display.to_scene_linear(picture)
        own_colour = time.perf_counter() - t
        engine.close()
    e, b = statistics.median(through), statistics.median(bare)
    print(f"the engine's own work per take: load with the model warm {own_load * 1000:.1f} ms, to ACEScg {own_colour * 1000:.1f} ms")
    print(f"model {model}: {args.frames} frames of {args.size}x{args.size}, {args.steps} steps, device {args.device}")
    print(f"first load through the engine (model read, digest, pipeline built): {first_load:.2f} s")
    print(f"median seconds per take: engine {e:.3f}, pipeline alone {b:.3f}; pipeline/engine = {b / e:.2f}x (goal >= 0.9x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
