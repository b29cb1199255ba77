"""The farm's built-in engine: a small vectorised path tracer written in torch.

Every pixel x sample path of a tile is traced at once as (3, N) tensors; the
Python loops run over bounces, shapes and lights only. Paths end at emitters,
when they escape, or after `setup.bounces` scattering events, and finished
paths are dropped from the batch so later bounces cost less.
Each bounce is two branch-free steps (pipelines.render.world), which can run
fused into C++ (pipelines.render.steps) when SHOTFARM_PATHTRACER_COMPILE=1.

Direct light is sampled explicitly (next-event estimation) from suns, area
lights and emissive spheres, and combined with BSDF sampling by multiple
importance sampling (power heuristic), so small bright sources and glossy
highlights are both clean. Every random number is a hash of the frame's seed
(from seed, shot and frame), the sample, the bounce and the dimension
(pipelines.render.sampler), so a frame is bit-identical on a device whichever
node renders it. The result is scene-linear ACEScg and never clamped.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import torch
from torch import Tensor

from pipelines.color.temperature import kelvin_to_acescg
from pipelines.render import geometry as geo
from pipelines.render import sampler, steps
from pipelines.render.geometry import Box, Plane, Rect, Shape, Sphere
from pipelines.render.geometry import at as _at
from pipelines.render.lights import Emitter, ShapeLight, Sun
from pipelines.render.world import AREA, DIFFUSE, EMISSIVE, GLOSSY, Materials, World
from pipelines.render.world import lens as _lens
from pipelines.spec import scene as spec
from pipelines.spec.setup import ShotSetup

# Phong exponent used for roughness 0: a lobe ~0.25 degrees wide, a mirror at
# any resolution we render, while keeping every pdf finite.
MAX_EXPONENT = 1e5
# Paths traced together. On a CPU a tile that stays in cache is several times
# faster per ray than a whole frame; a GPU wants big batches.
CPU_BATCH = 1 << 17
GPU_BATCH = 1 << 21
# Frames of at least this many samples run compiled bounce steps (see
# pipelines.render.steps); smaller ones would spend longer compiling than
# tracing. Batches under SMALL paths always run op by op: a compiled step
# specialises on sizes 0 and 1 and would compile again for them.
COMPILE_MIN_SAMPLES = 1 << 18
SMALL = 64
COMPILE_ENV = "SHOTFARM_PATHTRACER_COMPILE"


def compile_by_default() -> bool:
    """Whether bounces run compiled when the caller does not say: only with SHOTFARM_PATHTRACER_COMPILE=1.

    Compiled, a frame costs about 0.6x the CPU, but each render-node process
    first spends about 25 s compiling with inductor's cache warm, minutes with
    it cold (a fresh machine or pod): worth it for long shows on nodes that
    keep their cache, a loss for a short render or a first run.
    """
    return os.environ.get(COMPILE_ENV, "") == "1"


def frame_seed(seed: int, shot: str, frame: int) -> int:
    """A stable 63-bit seed for a frame (Python's hash() changes per process)."""
    digest = hashlib.sha256(f"{seed}\x1f{shot}\x1f{frame}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


@contextmanager
def _tile_threads() -> Iterator[int]:
    """Trace CPU tiles on as many threads as torch may use, each op on one thread.

    torch parallelises every op over its OpenMP pool and waits at a barrier
    after each; a path tracer issues thousands of small ops per tile, and on
    a loaded machine a barrier waits for a thread the OS has descheduled:
    measured 20x slower than one thread. Whole tiles per thread need no
    barrier (torch releases the GIL inside ops). The budget is torch's
    thread count, which the node sets for its slot; it is restored after.
    """
    workers = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield workers
    finally:
        torch.set_num_threads(workers)


def roughness_to_exponent(roughness: float) -> float:
    """Phong exponent matching a Beckmann-like roughness (1 -> 0, nearly diffuse)."""
    if roughness <= 0:
        return MAX_EXPONENT
    return min(MAX_EXPONENT, max(0.0, 2.0 / roughness**2 - 2.0))


def _offset(v: spec.Vec3, by: spec.Vec3) -> spec.Vec3:
    return (v[0] + by[0], v[1] + by[1], v[2] + by[2])


# -- the engine ------------------------------------------------------------------


class PathTracer:
    name = "pathtracer"

    def __init__(self, device: str = "cpu", compile: bool | None = None) -> None:
        self.device = torch.device(device)
        self.compile = compile_by_default() if compile is None else compile
        self._setup: ShotSetup | None = None

    def load(self, setup: ShotSetup) -> None:
        self._setup = setup
        rows = [_material_row(setup.scene.materials[o.material]) for o in setup.scene.objects]
        for light in setup.lights:
            if isinstance(light, spec.Area):
                emission = _kelvin_rgb(light.kelvin, light.intensity)
                rows.append((AREA, (0.0,) * 3, emission, 0.0, 1.0, 0.0))
        kind, albedo, emission, f0, exponent, glossy = zip(*rows)
        self._emission: tuple[tuple[float, float, float], ...] = emission
        dev = self.device
        self._mat = Materials(
            kind=torch.tensor(kind, dtype=torch.long, device=dev),
            albedo=torch.tensor(albedo, device=dev).T.contiguous(),
            emission=torch.tensor(emission, device=dev).T.contiguous(),
            f0=torch.tensor(f0, device=dev),
            exponent=torch.tensor(exponent, device=dev),
            glossy=torch.tensor(glossy, device=dev),
            any_glossy=GLOSSY in kind,
        )
        self._sky = _sky_gradient(setup.lights, dev)

    def render(self, frame: int) -> Tensor:
        if self._setup is None:
            raise RuntimeError("load a shot setup before rendering")
        setup = self._setup
        width, height = setup.resolution
        world = self._world(setup.relative(frame))
        seed = frame_seed(setup.seed, setup.shot, frame)
        spp, pixels = setup.samples, width * height
        batch = CPU_BATCH if self.device.type == "cpu" else GPU_BATCH
        # Tiles of equal size, at most a batch each, so threads finish together;
        # their number depends on the frame alone, never on the threads.
        count = -(-pixels * spp // batch)
        step = -(-pixels // count)
        image = torch.empty(3, pixels, device=self.device)
        camera = setup.camera.at(setup.relative(frame))
        lens = _lens(camera.position, camera.look_at, camera.fov, width / height, self.device)
        fused = self.compile and pixels * spp >= COMPILE_MIN_SAMPLES
        kernels = steps.compiled() if fused else steps.EAGER

        def tile(index: int) -> None:
            first, last = index * step, min(pixels, (index + 1) * step)
            image[:, first:last] = self._trace(world, lens, seed, first, last, kernels).view(3, last - first, spp).mean(2)

        tiles = range(-(-pixels // step))
        if self.device.type == "cpu":
            with _tile_threads() as workers, ThreadPoolExecutor(workers, "pathtracer-tile") as pool:
                for _ in pool.map(tile, tiles):
                    pass
        else:  # one device queue: tiles in order
            for index in tiles:
                tile(index)
        return image.T.reshape(height, width, 3).float().cpu()

    def _world(self, at: float) -> World:
        setup = self._setup
        assert setup is not None
        shapes: list[Shape] = []
        lights: list[Emitter] = []
        for i, obj in enumerate(setup.scene.objects):
            off = spec.offset_at(obj.motion, at)
            if isinstance(obj, spec.Sphere):
                shapes.append(Sphere(_offset(obj.center, off), obj.radius))
                if max(self._emission[i]) > 0:  # an emissive sphere is sampled like a lamp
                    lights.append(ShapeLight(shapes[-1], i, self._emission[i]))
            elif isinstance(obj, spec.Plane):
                shapes.append(Plane(_offset(obj.point, off), geo.unit(obj.normal)))
            else:
                shapes.append(Box(_offset(obj.min, off), _offset(obj.max, off)))
        for light in setup.lights:
            if isinstance(light, spec.Area):
                shapes.append(Rect(light.corner, light.u, light.v))
                if light.intensity > 0:
                    radiance = _kelvin_rgb(light.kelvin, light.intensity)
                    lights.append(ShapeLight(shapes[-1], len(shapes) - 1, radiance))
            elif isinstance(light, spec.Sun) and light.intensity > 0:
                half = math.radians(light.angle) / 2
                one_minus_cos = 2 * math.sin(half / 2) ** 2  # exact for tiny discs
                irradiance = _kelvin_rgb(light.kelvin, light.intensity)
                lights.append(Sun(geo.unit(light.direction), one_minus_cos, irradiance))
        return World(geo.Shapes(tuple(shapes)), tuple(lights), self._sky, self._mat)

    def _trace(self, world: World, lens: Tensor, seed: int, first: int, last: int, kernels: steps.Steps) -> Tensor:
        """The radiance of every sample of the pixels first..last, as (3, samples)."""
        assert self._setup is not None
        (width, height), spp, dev = self._setup.resolution, self._setup.samples, self.device
        count, lights = (last - first) * spp, len(world.lights)

        def key(depth: int, dimensions: int) -> Tensor:
            return sampler.key(seed, first * spp, depth, dimensions, dev)

        step = kernels if count >= SMALL else steps.EAGER
        start = torch.tensor(float(first), dtype=torch.float64, device=dev)
        ray = step.start(lens, start, key(sampler.CAMERA, sampler.CAMERA_DIMENSIONS), count, width, height, spp)
        out = torch.zeros(3, count, device=dev)
        path = torch.arange(count, device=dev)  # the sample each live ray belongs to
        for depth in range(self._setup.bounces + 1):
            step = kernels if path.numel() >= SMALL else steps.EAGER
            t, which, radiance, finished = step.arrive(world, ray)
            if depth == self._setup.bounces:  # out of bounces: what a path has is final
                out.index_copy_(1, path, radiance)
                break
            done = finished.nonzero().squeeze(1)
            out.index_copy_(1, _at(path, done), _at(radiance, done))
            keep = (~finished).nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            path = _at(path, keep)
            step = kernels if keep.numel() >= SMALL else steps.EAGER
            ray = step.scatter(world, ray, t, which, keep, path, key(depth, 3 + 2 * lights))
        return out


def _sky_gradient(lights: tuple[spec.Light, ...], device: torch.device) -> tuple[Tensor, Tensor] | None:
    """Skies add up to one gradient, horizon + (zenith - horizon) * clamp(up, 0, 1)."""
    skies = [k for k in lights if isinstance(k, spec.Sky)]
    if not skies:
        return None

    def total(end: str) -> Tensor:
        rgb = [sum(getattr(k, end)[c] * k.intensity for k in skies) for c in range(3)]
        return torch.tensor(rgb, device=device).view(3, 1)

    return total("horizon"), total("zenith") - total("horizon")


def _kelvin_rgb(kelvin: float, intensity: float) -> tuple[float, float, float]:
    r, g, b = kelvin_to_acescg(kelvin)
    return (r * intensity, g * intensity, b * intensity)


def _material_row(m: spec.Diffuse | spec.Emissive | spec.Glossy) -> tuple:
    """(kind, albedo, emission, f0, exponent, glossy) for the material tables."""
    if isinstance(m, spec.Emissive):
        return (EMISSIVE, (0.0,) * 3, tuple(c * m.intensity for c in m.color), 0.0, 1.0, 0.0)
    # Albedo above 1 would create energy; the spec allows it, the tracer does not.
    albedo = tuple(min(c, 1.0) for c in m.albedo)
    if isinstance(m, spec.Glossy):
        return (GLOSSY, albedo, (0.0,) * 3, m.specular, roughness_to_exponent(m.roughness), 1.0)
    return (DIFFUSE, albedo, (0.0,) * 3, 0.0, 1.0, 0.0)
