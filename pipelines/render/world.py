"""One frame's world as the path tracer sees it, and the steps of a path.

A path starts at the camera (`start`: a ray through a jittered point of
its pixel), then each bounce is `arrive` (find what each ray hits, and
finish the paths that escape or reach an emitter) then `scatter` (shade the
hit point: sample the lights, pick a new direction). All are branch-free
over a whole batch: every lane computes every case and keeps its own by
torch.where, so none has a data-dependent shape, and a compiler can fuse
each into one pass over memory. Their random numbers are a hash of the
sample and a key (pipelines.render.sampler), computed in the step itself,
so a frame is the same whether the steps run compiled or op by op.

Rays are one (13, N) tensor, rows: origin, direction, throughput, pdf of the
direction (inf for camera rays: no light sample competes with them) and the
radiance gathered so far, so retiring finished paths is a single gather.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from pipelines.render import geometry as geo
from pipelines.render import sampler
from pipelines.render.bsdf import Bsdf
from pipelines.render.geometry import Rect, dot
from pipelines.render.lights import Emitter, ShapeLight, Sun

DIFFUSE, GLOSSY, EMISSIVE, AREA = 0, 1, 2, 3
# Scattered rays start this far off the surface so they do not re-hit it.
OFFSET = 2e-4
ROWS = 13


def mis(pdf_this: Tensor, pdf_other: Tensor) -> Tensor:
    """Power-heuristic weight; an infinite pdf_this (delta) or zero pdf_other gives 1."""
    return 1.0 / (1.0 + (pdf_other / pdf_this) ** 2)


@dataclass(frozen=True)
class Materials:
    kind: Tensor  # (S,) per shape
    albedo: Tensor  # (3, S)
    emission: Tensor  # (3, S)
    f0: Tensor  # (S,)
    exponent: Tensor  # (S,)
    glossy: Tensor  # (S,) 1.0 for glossy shapes
    any_glossy: bool


@dataclass(frozen=True)
class World:
    shapes: geo.Shapes
    lights: tuple[Emitter, ...]
    sky: tuple[Tensor, Tensor] | None  # horizon radiance, zenith - horizon
    mat: Materials

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
                out = out + le * mis(pdf_bsdf, pdf)
        return out

    def emitted(self, which: Tensor, o: Tensor, d: Tensor, t: Tensor, pdf_bsdf: Tensor) -> Tensor:
        """Radiance of the emitters that rays from o along d hit at distance t (which >= 0)."""
        le = geo.at(self.mat.emission, which)
        for light in self.lights:
            if not isinstance(light, ShapeLight):
                continue
            weight = mis(pdf_bsdf, light.pdf(o, d, t))
            if isinstance(light.shape, Rect):  # one-sided: dark from behind
                weight = weight * (geo.dot_const(d, light.shape.unit_normal) < 0)
            le = torch.where(which == light.shape_index, le * weight, le)
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
            lit = f_cos * s.radiance_over_pdf * mis(s.pdf, pdf_bsdf)
            blocked = self.shapes.occluded(p, s.wi, s.dist, light.shape_index)
            out = out + torch.where(blocked, 0.0, lit)
        return out


def lens(position: geo.Vec3, look_at: geo.Vec3, fov: float, aspect: float, device: torch.device) -> Tensor:
    """A pinhole camera as `start` takes it: (12,) position, forward, right and up scaled to the frame's half size.

    fov is vertical, in degrees; aspect is width / height; world up is +Y.
    """
    forward = geo.unit(geo.sub(look_at, position))
    side = geo.cross(forward, (0.0, 1.0, 0.0))
    # Looking straight up or down: any horizontal right vector will do.
    right = geo.unit(side) if geo.vdot(side, side) > 1e-12 else (1.0, 0.0, 0.0)
    up = geo.cross(right, forward)
    half_h = math.tan(math.radians(fov) / 2)
    half_w = half_h * aspect
    rows = [*position, *forward, *(c * half_w for c in right), *(c * half_h for c in up)]
    return torch.tensor(rows, dtype=torch.float32, device=device)


def start(lens: Tensor, first: Tensor, key: Tensor, count: int, width: int, height: int, spp: int) -> Tensor:
    """The camera rays of `count` samples from pixel `first` on, spp per pixel, as a (13, count) batch.

    first is a 0-d float64 tensor, so a compiled step does not specialise
    on it; key is `sampler.key`'s for the camera's two numbers per sample.
    """
    # Integer division runs a scalar loop on a CPU; float64 division of
    # integers below 2^50 floors exactly and vectorises.
    sample = torch.arange(count, device=lens.device, dtype=torch.float64)
    pixel = first + torch.floor((sample + 0.5) / spp)
    row = torch.floor((pixel + 0.5) / width)
    col = pixel - row * width
    jitter = sampler.uniforms(sample, key)
    x = (col.to(torch.float32) + jitter[0]) * (2.0 / width) - 1.0
    y = 1.0 - (row.to(torch.float32) + jitter[1]) * (2.0 / height)
    d = geo.normalize(lens[3:6, None] + lens[6:9, None] * x + lens[9:12, None] * y)
    o = lens[0:3, None].expand_as(d)
    return torch.cat([o, d, torch.ones_like(d), torch.full_like(d[:1], geo.INF), torch.zeros_like(d)])


def arrive(world: World, ray: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Trace rays to their hits: (t, which, radiance, finished).

    A ray that escapes or reaches an emitter, or carries no throughput any
    more, has finished; its path's radiance is final. The others have hit a
    surface that scatters (t, which) and radiance is what they carry so far.
    """
    o, d, throughput, pdf_bsdf, radiance = ray[0:3], ray[3:6], ray[6:9], ray[9], ray[10:13]
    t, which = world.shapes.closest(o, d)
    gone = which < 0
    hit = which.clamp_min(0)
    lit = ~gone & (geo.at(world.mat.kind, hit) >= EMISSIVE)
    le = torch.where(gone, world.escaped(d, pdf_bsdf), world.emitted(hit, o, d, t, pdf_bsdf))
    finished = gone | lit | (throughput.amax(0) <= 0)
    return t, which, torch.where(gone | lit, radiance + throughput * le, radiance), finished


def scatter(world: World, ray: Tensor, t: Tensor, which: Tensor, keep: Tensor, sample: Tensor, key: Tensor) -> Tensor:
    """The rays `keep` of a batch after they scatter at their hits, as a new (13, len(keep)) batch.

    sample is the tile's index of each kept ray's sample, key is
    `sampler.key`'s for this bounce: three numbers for the BSDF sample, then
    two per light.
    """
    u = sampler.uniforms(sample, key)
    ray, t, which = geo.at(ray, keep), geo.at(t, keep), geo.at(which, keep)
    d, throughput = ray[3:6], ray[6:9]
    p = ray[0:3] + d * t
    n = world.shapes.normals(which, p)
    n = n * torch.where(dot(n, d) > 0, -1.0, 1.0)  # two-sided: face the viewer
    p = p + n * OFFSET
    bsdf = bsdf_at(world.mat, which, n, d)
    radiance = ray[10:13] + throughput * world.direct(p, bsdf, u[3:])
    d, weight, pdf_bsdf = bsdf.sample(u[:3])
    return torch.cat([p, d, throughput * weight, pdf_bsdf[None], radiance])


def bsdf_at(mat: Materials, which: Tensor, n: Tensor, d: Tensor) -> Bsdf:
    albedo = geo.at(mat.albedo, which)
    if not mat.any_glossy:
        return Bsdf(n, albedo, None, n[0], n, n[0])
    cos_out = (-dot(n, d)).clamp(0, 1)
    f0 = geo.at(mat.f0, which)
    fresnel = geo.at(mat.glossy, which) * (f0 + (1 - f0) * (1 - cos_out) ** 5)
    mirror = d - n * (2 * dot(n, d))
    p_lobe = fresnel / (fresnel + (1 - fresnel) * albedo.amax(0)).clamp_min(1e-12)
    return Bsdf(n, albedo, fresnel, geo.at(mat.exponent, which), mirror, p_lobe)
