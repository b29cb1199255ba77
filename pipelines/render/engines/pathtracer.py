"""The farm's built-in engine: a small vectorised path tracer written in torch.

Every pixel x sample path of a tile is traced at once as (3, N) tensors; the
Python loops run over bounces, shapes and lights only. Paths end at emitters,
when they escape, or after `setup.bounces` scattering events, and finished
paths are dropped from the batch so later bounces cost less.

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
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from pipelines.color.temperature import kelvin_to_acescg
from pipelines.render import geometry as geo
from pipelines.render.bsdf import Bsdf
from pipelines.render.geometry import INF, Box, Plane, Rect, Shape, Sphere, dot
from pipelines.render.geometry import at as _at
from pipelines.render.lights import Emitter, ShapeLight, Sun
from pipelines.spec import scene as spec
from pipelines.spec.setup import ShotSetup

DIFFUSE, GLOSSY, EMISSIVE, AREA = 0, 1, 2, 3
# Scattered rays start this far off the surface so they do not re-hit it.
OFFSET = 2e-4
# Phong exponent used for roughness 0: a lobe ~0.25 degrees wide, a mirror at
# any resolution we render, while keeping every pdf finite.
MAX_EXPONENT = 1e5
# Paths traced together. On a CPU a tile that stays in cache is several times
# faster per ray than a whole frame; a GPU wants big batches.
CPU_BATCH = 1 << 17
GPU_BATCH = 1 << 21


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


def _mis(pdf_this: Tensor, pdf_other: Tensor) -> Tensor:
    """Power-heuristic weight; an infinite pdf_this (delta) or zero pdf_other gives 1."""
    return 1.0 / (1.0 + (pdf_other / pdf_this) ** 2)


def _offset(v: spec.Vec3, by: spec.Vec3) -> spec.Vec3:
    return (v[0] + by[0], v[1] + by[1], v[2] + by[2])


# -- one frame's world -----------------------------------------------------------


@dataclass(frozen=True)
class _Materials:
    kind: Tensor  # (S,) per shape
    albedo: Tensor  # (3, S)
    emission: Tensor  # (3, S)
    f0: Tensor  # (S,)
    exponent: Tensor  # (S,)
    glossy: Tensor  # (S,) 1.0 for glossy shapes
    any_glossy: bool


@dataclass(frozen=True)
class _World:
    shapes: geo.Shapes
    lights: tuple[Emitter, ...]
    sky: tuple[Tensor, Tensor] | None  # horizon radiance, zenith - horizon
    mat: _Materials

    def escaped(self, d: Tensor, pdf_bsdf: Tensor) -> Tensor:
        """Radiance of the sky and sun discs along escaping rays."""
        if self.sky is not None:
            horizon, rise = self.sky
            out = torch.addcmul(horizon, rise, d[1].clamp(0, 1))
        else:
            out = torch.zeros_like(d)
        for sun in self.lights:
            if isinstance(sun, Sun) and sun.one_minus_cos > 0:
                le, pdf = sun.radiance(d)
                out = out + le * _mis(pdf_bsdf, pdf)
        return out

    def emitted(self, which: Tensor, o: Tensor, d: Tensor, t: Tensor, pdf_bsdf: Tensor) -> Tensor:
        """Radiance of the emitters that rays from o along d hit at distance t."""
        le = _at(self.mat.emission, which)
        for light in self.lights:
            if not isinstance(light, ShapeLight):
                continue
            sel = (which == light.shape_index).nonzero().squeeze(1)
            if sel.numel():
                d_sel = _at(d, sel)
                weight = _mis(_at(pdf_bsdf, sel), light.pdf(_at(o, sel), d_sel, _at(t, sel)))
                if isinstance(light.shape, Rect):  # one-sided: dark from behind
                    weight = weight * (geo.dot_const(d_sel, light.shape.unit_normal) < 0)
                le.index_copy_(1, sel, _at(le, sel) * weight)
        return le

    def direct(self, p: Tensor, bsdf: Bsdf, u: Tensor) -> Tensor:
        """Next-event estimation: one shadow-tested, MIS-weighted sample of every light.

        Sampling each light rather than picking one keeps a sunlit ground free
        of the grain that light selection adds, for one shadow ray per light.
        """
        out = torch.zeros_like(p)
        for j, light in enumerate(self.lights):
            s = light.sample(p, u[2 * j], u[2 * j + 1])
            f_cos, pdf_bsdf = bsdf.eval(s.wi)  # zero below the surface
            # An impossible sample has pdf inf: MIS weight 1, radiance/pdf 0.
            lit = f_cos * s.radiance_over_pdf * _mis(s.pdf, pdf_bsdf)
            live = (lit.amax(0) > 0).nonzero().squeeze(1)
            if live.numel():
                blocked = self.shapes.occluded(
                    _at(p, live), _at(s.wi, live), _at(s.dist, live), light.shape_index
                )
                lit.index_fill_(1, live[blocked], 0.0)
                out += lit
        return out


# -- the engine ------------------------------------------------------------------


class PathTracer:
    name = "pathtracer"

    def __init__(self, device: str = "cpu") -> None:
        self.device = torch.device(device)
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
        self._mat = _Materials(
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

        def tile(index: int) -> None:
            # Each tile draws from its own generator, so a frame's pixels do not
            # depend on which thread traced which tile, or in what order.
            first, last = index * step, min(width * height, (index + 1) * step)
            gen = torch.Generator(device=self.device)
            gen.manual_seed(tile_seed(seed, index))
            o, d = self._camera_rays(camera, first, last, gen)
            image[:, first:last] = self._trace(world, o, d, gen).view(3, last - first, spp).mean(2)

        tiles = range(-(-width * height // step))
        if self.device.type == "cpu":
            with _tile_threads() as workers, ThreadPoolExecutor(workers, "pathtracer-tile") as pool:
                for _ in pool.map(tile, tiles):
                    pass
        else:  # one device queue: tiles in order
            for index in tiles:
                tile(index)
        return image.T.reshape(height, width, 3).float().cpu()

    def _world(self, at: float) -> _World:
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
        return _World(geo.Shapes(tuple(shapes)), tuple(lights), self._sky, self._mat)

    def _camera_rays(
        self, cam: spec.CameraKey, first: int, last: int, gen: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        assert self._setup is not None
        width, height = self._setup.resolution
        pixel = torch.arange(first, last, device=self.device).repeat_interleave(self._setup.samples)
        jitter = torch.rand(2, pixel.numel(), generator=gen, device=self.device)
        col, row = (pixel % width) + jitter[0], (pixel // width) + jitter[1]
        aspect = width / height
        return geo.camera_rays(cam.position, cam.look_at, cam.fov, col / width, row / height, aspect)

    def _trace(self, world: _World, o: Tensor, d: Tensor, gen: torch.Generator) -> Tensor:
        assert self._setup is not None
        bounces, mat = self._setup.bounces, world.mat
        out = torch.zeros_like(d)
        path = torch.arange(d.shape[1], device=d.device)  # the sample each live ray belongs to
        # Rows: origin, direction, throughput, pdf of the direction (inf for
        # camera rays: no NEE strategy competes with them) and radiance so far.
        # One tensor, so retiring finished paths is a single gather.
        ray = torch.cat([o, d, torch.ones_like(d), torch.full_like(d[:1], INF), torch.zeros_like(d)])
        for depth in range(bounces + 1):
            o, d, throughput, pdf_bsdf, radiance = ray[0:3], ray[3:6], ray[6:9], ray[9], ray[10:13]
            t, which = world.shapes.closest(o, d)
            kind = _at(mat.kind, which.clamp_min(0))
            gone = (which < 0).nonzero().squeeze(1)
            if gone.numel():
                le = world.escaped(_at(d, gone), _at(pdf_bsdf, gone))
                done = _at(radiance, gone) + _at(throughput, gone) * le
                out.index_copy_(1, _at(path, gone), done)
            lit = ((which >= 0) & (kind >= EMISSIVE)).nonzero().squeeze(1)
            if lit.numel():
                le = world.emitted(
                    _at(which, lit), _at(o, lit), _at(d, lit), _at(t, lit), _at(pdf_bsdf, lit)
                )
                done = _at(radiance, lit) + _at(throughput, lit) * le
                out.index_copy_(1, _at(path, lit), done)
            keep = ((which >= 0) & (kind < EMISSIVE)).nonzero().squeeze(1)
            if depth == bounces:
                out.index_copy_(1, _at(path, keep), _at(radiance, keep))
                break
            ray, path, which, t = _at(ray, keep), _at(path, keep), _at(which, keep), _at(t, keep)
            d, throughput = ray[3:6], ray[6:9]
            p = ray[0:3] + d * t
            n = world.shapes.normals(which, p)
            n = n * torch.where(dot(n, d) > 0, -1.0, 1.0)  # two-sided: face the viewer
            p = p + n * OFFSET
            bsdf = _bsdf_at(mat, which, n, d)
            u = torch.rand(3 + 2 * len(world.lights), d.shape[1], generator=gen, device=d.device)
            radiance = ray[10:13] + throughput * world.direct(p, bsdf, u[3:])
            d, weight, pdf_bsdf = bsdf.sample(u[:3])
            throughput = throughput * weight
            ray = torch.cat([p, d, throughput, pdf_bsdf[None], radiance])
            dark = throughput.amax(0) <= 0
            if dark.any():  # absorbed: the path is finished
                done = dark.nonzero().squeeze(1)
                out.index_copy_(1, _at(path, done), _at(radiance, done))
                keep = (~dark).nonzero().squeeze(1)
                ray, path = _at(ray, keep), _at(path, keep)
        return out


def _bsdf_at(mat: _Materials, which: Tensor, n: Tensor, d: Tensor) -> Bsdf:
    albedo = _at(mat.albedo, which)
    if not mat.any_glossy:
        return Bsdf(n, albedo, None, n[0], n, n[0])
    cos_out = (-dot(n, d)).clamp(0, 1)
    f0 = _at(mat.f0, which)
    fresnel = _at(mat.glossy, which) * (f0 + (1 - f0) * (1 - cos_out) ** 5)
    mirror = d - n * (2 * dot(n, d))
    p_lobe = fresnel / (fresnel + (1 - fresnel) * albedo.amax(0)).clamp_min(1e-12)
    return Bsdf(n, albedo, fresnel, _at(mat.exponent, which), mirror, p_lobe)


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
