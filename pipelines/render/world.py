"""One frame's world as the path tracer sees it, and the two steps of a bounce.

A bounce is `arrive` (find what each ray hits, and finish the paths that
escape or reach an emitter) then `scatter` (shade the hit point: sample the
lights, pick a new direction). Both are branch-free over a whole batch:
every lane computes every case and keeps its own by torch.where, so neither
has a data-dependent shape, and a compiler can fuse each into one pass over
memory. They never draw random numbers: the caller passes them in, so a
frame is the same whether the steps run compiled or op by op.

Rays are one (13, N) tensor, rows: origin, direction, throughput, pdf of the
direction (inf for camera rays: no light sample competes with them) and the
radiance gathered so far, so retiring finished paths is a single gather.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from pipelines.render import geometry as geo
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


def scatter(world: World, ray: Tensor, t: Tensor, which: Tensor, keep: Tensor, u: Tensor) -> Tensor:
    """The rays `keep` of a batch after they scatter at their hits, as a new (13, len(keep)) batch.

    u holds the random numbers, one column per kept ray: three for the BSDF
    sample, then two per light.
    """
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
