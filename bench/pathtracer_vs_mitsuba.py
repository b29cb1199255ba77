"""The built-in path tracer against Mitsuba 3, on the same scene, in one run.

Run by hand (never from the tests):  .venv/bin/python bench/pathtracer_vs_mitsuba.py

Mitsuba is a bench-only dependency: ``pip install -e '.[bench]'``. Its
``llvm_ad_rgb`` variant needs LLVM: on Debian ``apt-get install libllvm19``;
the bench finds it through ``DRJIT_LIBLLVM_PATH`` or, failing that, in
/usr/lib/*/libLLVM.so.19*. Without it only ``scalar_rgb`` runs.

The scene: 320x180, 16 samples per pixel, 3 scattering events, a sky
gradient, a point-like sun, a diffuse ground, a diffuse, a rough-metal and
an emissive sphere. Both renderers use a box pixel filter, independent
samples and next-event estimation with MIS; the rough metal is our
Fresnel-weighted Phong lobe against Mitsuba's Beckmann rough conductor of
the same roughness, so the two pictures are alike, not equal: the bench
prints the mean pixel of each and their relative difference.
Speed is camera samples (pixels x spp) per second, best of ``--repeats``
after one warm-up render each (both compile their kernels in the first;
without a C++ compiler our bounce steps run op by op, and the bench says so).
Beside it, the CPU seconds a frame took (best of the repeats, all of the
process's threads): on a machine others load, wall-clock rates swing with
their work, CPU time far less, so the bench prints both ratios and the load
average. No threshold is asserted: the goal line only reports.
"""

from __future__ import annotations

import argparse
import glob
import math
import os
import time

import numpy as np
import torch

from pipelines.color.temperature import kelvin_to_acescg
from pipelines.render import steps
from pipelines.render.engines.pathtracer import PathTracer
from pipelines.spec import scene as s
from pipelines.spec.setup import ShotSetup

GOAL = 0.5
WIDTH, HEIGHT, SPP, BOUNCES = 320, 180, 16, 3
SUN = s.Sun(direction=(0.4, 1.0, 0.3), kelvin=5600, intensity=3.0, angle=0.0)
SKY = s.Sky(zenith=(0.25, 0.4, 0.8), horizon=(0.8, 0.85, 0.9), intensity=0.6)
CAMERA = s.CameraKey(frame=0, position=(0.0, 1.5, 7.0), look_at=(0.0, 0.8, 0.0), fov=40)
GROUND, DIFFUSE, METAL, GLOW = (0.5, 0.5, 0.5), (0.7, 0.3, 0.2), (0.9, 0.9, 0.9), (4.0, 3.2, 2.0)
SPHERES = {  # name: (center, radius)
    "ball": ((-1.6, 0.8, 0.0), 0.8),
    "metal": ((0.4, 0.8, -0.5), 0.8),
    "lamp": ((1.9, 0.4, 0.8), 0.4),
}
METAL_ROUGHNESS = 0.3


def setup() -> ShotSetup:
    materials = {
        "ground": s.Diffuse(albedo=GROUND),
        "ball": s.Diffuse(albedo=DIFFUSE),
        # No Lambert base: all of it is the Fresnel-weighted lobe, like a metal.
        "metal": s.Glossy(albedo=(0.0, 0.0, 0.0), roughness=METAL_ROUGHNESS, specular=METAL[0]),
        "lamp": s.Emissive(color=(1.0, 0.8, 0.5), intensity=GLOW[0]),
    }
    objects = [s.Plane(name="ground", material="ground")]
    objects += [s.Sphere(name=n, material=n, center=c, radius=r) for n, (c, r) in SPHERES.items()]
    lights = (SUN, SKY)
    return ShotSetup(
        shot="bench",
        scene=s.Scene(materials=materials, objects=tuple(objects), lights=lights),
        camera=s.Camera(keys=(CAMERA,)),
        lights=lights,
        resolution=(WIDTH, HEIGHT),
        samples=SPP,
        bounces=BOUNCES,
        seed=7,
        cut_first=0,
    )


def timed(render, repeats: int) -> tuple[float, float, np.ndarray]:
    """Best wall-clock and best CPU seconds of a render, and its image."""
    image = render()  # warm-up: kernel compilation, caches, thread pools
    best = cpu = math.inf
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        image = render()
        best = min(best, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return best, cpu, image


def ours(repeats: int, compile: bool) -> tuple[float, float, np.ndarray]:
    engine = PathTracer("cpu", compile=compile)
    engine.load(setup())
    return timed(lambda: engine.render(0).numpy(), repeats)


# -- Mitsuba -------------------------------------------------------------------


def find_llvm() -> str | None:
    if os.environ.get("DRJIT_LIBLLVM_PATH"):
        return os.environ["DRJIT_LIBLLVM_PATH"]
    found = sorted(glob.glob("/usr/lib/*/libLLVM.so.19*") + glob.glob("/usr/lib/llvm-19/lib/libLLVM.so.19*"))
    return found[0] if found else None


def _sky_bitmap(mi) -> object:
    # Mitsuba's envmap: row 0 is straight up (+Y), rows go down to -Y.
    rows, cols = 256, 8
    theta = (np.arange(rows) + 0.5) / rows * math.pi
    up = np.clip(np.cos(theta), 0.0, 1.0)[:, None]
    horizon = np.array(SKY.horizon) * SKY.intensity
    zenith = np.array(SKY.zenith) * SKY.intensity
    rgb = horizon + (zenith - horizon) * up
    return mi.Bitmap(np.ascontiguousarray(np.repeat(rgb[:, None, :], cols, axis=1), dtype=np.float32))


def mitsuba_scene(mi) -> object:
    t = mi.ScalarTransform4f
    sun_rgb = [c * SUN.intensity for c in kelvin_to_acescg(SUN.kelvin)]
    glow = [c * GLOW[0] for c in (1.0, 0.8, 0.5)]
    pos, at = CAMERA.position, CAMERA.look_at
    spheres = {
        name: {
            "type": "sphere",
            "center": list(c),
            "radius": r,
            "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": list(DIFFUSE)}},
        }
        for name, (c, r) in SPHERES.items()
    }
    spheres["metal"]["bsdf"] = {
        "type": "roughconductor",
        "material": "none",
        "distribution": "beckmann",
        "alpha": METAL_ROUGHNESS,
        "specular_reflectance": {"type": "rgb", "value": list(METAL)},
    }
    spheres["lamp"]["bsdf"] = {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.0, 0.0, 0.0]}}
    spheres["lamp"]["emitter"] = {"type": "area", "radiance": {"type": "rgb", "value": glow}}
    return mi.load_dict({
        "type": "scene",
        "integrator": {"type": "path", "max_depth": BOUNCES + 1, "rr_depth": 100},
        "sensor": {
            "type": "perspective",
            "fov_axis": "y",
            "fov": CAMERA.fov,
            "to_world": t().look_at(origin=list(pos), target=list(at), up=[0, 1, 0]),
            "sampler": {"type": "independent", "sample_count": SPP},
            "film": {"type": "hdrfilm", "width": WIDTH, "height": HEIGHT, "rfilter": {"type": "box"}},
        },
        "sky": {"type": "envmap", "bitmap": _sky_bitmap(mi)},
        "sun": {"type": "directional", "direction": [-c for c in SUN.direction],
                "irradiance": {"type": "rgb", "value": sun_rgb}},
        # A 2 km square stands in for the infinite ground plane.
        "ground": {"type": "rectangle", "to_world": t().rotate([1, 0, 0], -90).scale(1000.0),
                   "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": list(GROUND)}}},
        **spheres,
    })  # fmt: skip


def theirs(variant: str, repeats: int) -> tuple[float, float, np.ndarray]:
    import mitsuba as mi

    mi.set_variant(variant)
    scene = mitsuba_scene(mi)
    return timed(lambda: np.array(mi.render(scene, spp=SPP)), repeats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--scalar", action="store_true", help="also time Mitsuba's scalar_rgb (slow)")
    args = ap.parse_args()
    samples = WIDTH * HEIGHT * SPP
    # As the farm runs it (op by op unless SHOTFARM_PATHTRACER_COMPILE=1), then compiled (the first, compiling render is the warm-up).
    t_ours, cpu_ours, img_ours = ours(args.repeats, compile=False)
    rates = {"pathtracer (torch, cpu)": (samples / t_ours / 1e6, cpu_ours, img_ours)}
    t_fused, cpu_fused, img_fused = ours(args.repeats, compile=True)
    if steps.compiled().compiled:
        rates["pathtracer compiled"] = (samples / t_fused / 1e6, cpu_fused, img_fused)
    try:
        import mitsuba  # noqa: F401
    except ImportError:
        print("Mitsuba is not installed: pip install -e '.[bench]' (mitsuba==3.9.1). Our figure alone:")
        print(f"pathtracer: {samples / t_ours / 1e6:.2f} Msamples/s")
        return
    llvm = find_llvm()
    variants = ["scalar_rgb"] if args.scalar or llvm is None else []
    if llvm is not None:
        os.environ["DRJIT_LIBLLVM_PATH"] = llvm
        variants.insert(0, "llvm_ad_rgb")
    else:
        print("no libLLVM 19 found (apt-get install libllvm19, or set DRJIT_LIBLLVM_PATH): scalar_rgb only")
    for variant in variants:
        t, cpu, img = theirs(variant, args.repeats)
        rates[f"mitsuba {variant}"] = (samples / t / 1e6, cpu, img)

    fused = "" if steps.compiled().compiled else f" (no compiled row: {steps.missing_toolchain()})"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{WIDTH}x{HEIGHT}, {SPP} spp, {BOUNCES} bounces, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"load average {load}{fused}")  # fmt: skip
    # The whole frame is mostly sky; the lower half (ground, spheres, shadows)
    # is where the renderers' light transport differs, if it does.
    lower = slice(HEIGHT // 2, HEIGHT)
    mean_ours, low_ours = img_ours.reshape(-1, 3).mean(0), img_ours[lower].reshape(-1, 3).mean(0)
    for name, (rate, cpu, img) in rates.items():
        mean, low = img[..., :3].reshape(-1, 3).mean(0), img[lower, :, :3].reshape(-1, 3).mean(0)
        diff, diff_low = 100 * (mean - mean_ours) / mean_ours, 100 * (low - low_ours) / low_ours
        print(f"{name:26s} {rate:6.2f} Msamples/s  {cpu:6.3f} CPU s/frame  mean pixel {np.round(mean, 4)} "
              f"({np.round(diff, 1)} % vs ours), lower half {np.round(low, 4)} ({np.round(diff_low, 1)} %)")  # fmt: skip
    reference = "mitsuba llvm_ad_rgb" if "mitsuba llvm_ad_rgb" in rates else "mitsuba scalar_rgb"
    for ours_name in [n for n in rates if n.startswith("pathtracer")]:
        ratio = rates[ours_name][0] / rates[reference][0]
        by_cpu = rates[reference][1] / rates[ours_name][1]
        print(f"{ours_name} / {reference}: {ratio:.3f} by wall clock, {by_cpu:.3f} by CPU time  "
              f"goal >= {GOAL}: {'PASS' if ratio >= GOAL else 'MISS'}")  # fmt: skip


if __name__ == "__main__":
    main()
