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
highlights are both clean. All randomness comes from one torch.Generator
seeded from (seed, shot, frame), so a frame is bit-identical on a device
whichever node renders it. The result is scene-linear ACEScg and never clamped.
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
from pipelines.render import steps
from pipelines.render.geometry import INF, Box, Plane, Rect, Shape, Sphere
from pipelines.render.geometry import at as _at
from pipelines.render.lights import Emitter, ShapeLight, Sun
from pipelines.render.world import AREA, DIFFUSE, EMISSIVE, GLOSSY, Materials, World
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


def tile_seed(frame: int, tile: int) -> int:
    """A stable 63-bit seed for one tile of a frame, from the frame's seed."""
    digest = hashlib.sha256(f"{frame}\x1f{tile}".encode()).digest()
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
        spp = setup.samples
        batch = CPU_BATCH if self.device.type == "cpu" else GPU_BATCH
        step = max(1, batch // spp)
        image = torch.empty(3, width * height, device=self.device)
        camera = setup.camera.at(setup.relative(frame))
        fused = self.compile and width * height * spp >= COMPILE_MIN_SAMPLES
        kernels = steps.compiled() if fused else steps.EAGER

        def tile(index: int) -> None:
            # Each tile draws from its own generator, so a frame's pixels do not
            # depend on which thread traced which tile, or in what order.
            first, last = index * step, min(width * height, (index + 1) * step)
            gen = torch.Generator(device=self.device)
            gen.manual_seed(tile_seed(seed, index))
            o, d = self._camera_rays(camera, first, last, gen)
            image[:, first:last] = self._trace(world, o, d, gen, kernels).view(3, last - first, spp).mean(2)

        tiles = range(-(-width * height // step))
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

    def _camera_rays(self, cam: spec.CameraKey, first: int, last: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        assert self._setup is not None
        width, height = self._setup.resolution
        pixel = torch.arange(first, last, device=self.device).repeat_interleave(self._setup.samples)
        jitter = torch.rand(2, pixel.numel(), generator=gen, device=self.device)
        col, row = (pixel % width) + jitter[0], (pixel // width) + jitter[1]
        aspect = width / height
        return geo.camera_rays(cam.position, cam.look_at, cam.fov, col / width, row / height, aspect)

    def _trace(self, world: World, o: Tensor, d: Tensor, gen: torch.Generator, kernels: steps.Steps) -> Tensor:
        assert self._setup is not None
        out = torch.zeros_like(d)
        path = torch.arange(d.shape[1], device=d.device)  # the sample each live ray belongs to
        ray = torch.cat([o, d, torch.ones_like(d), torch.full_like(d[:1], INF), torch.zeros_like(d)])
        lights = len(world.lights)
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
            u = torch.rand(3 + 2 * lights, keep.numel(), generator=gen, device=d.device)
            step = kernels if keep.numel() >= SMALL else steps.EAGER
            ray = step.scatter(world, ray, t, which, keep, u)
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
