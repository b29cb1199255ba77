"""Lights the path tracer samples by next-event estimation: suns, area rectangles and emissive spheres.

Each light draws directions toward itself from a batch of shading points and
says what radiance over pdf it sends along them; a sun is also what escaping
rays see. Pure torch on (3, N) tensors, no scene parsing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from pipelines.render import geometry as geo
from pipelines.render.geometry import INF, Rect, Sphere
from pipelines.spec import scene as spec


@dataclass(frozen=True)
class LightSample:
    wi: Tensor  # (3, M) unit directions to the light
    dist: Tensor  # (M,) distance to the light surface (inf for a sun)
    radiance_over_pdf: Tensor  # (3, M) radiance / solid-angle pdf, 0 where impossible
    pdf: Tensor  # (M,) solid-angle pdf, inf for a delta light


@dataclass(frozen=True)
class Sun:
    shape_index = -1  # not a shape: never hit, only seen by escaping rays
    direction: spec.Vec3
    one_minus_cos: float  # of the disc's angular radius; 0 for a point-like sun
    irradiance: tuple[float, float, float]

    def sample(self, p: Tensor, u1: Tensor, u2: Tensor) -> LightSample:
        axis = geo.constant(self.direction, p)
        wi = geo.around(axis, u1 * self.one_minus_cos, u2) if self.one_minus_cos else axis
        solid_angle = 2 * math.pi * self.one_minus_cos
        pdf = torch.full_like(p[0], 1 / solid_angle if solid_angle else INF)
        # radiance * solid angle = irradiance, whatever the disc size.
        e = geo.constant(self.irradiance, p)
        return LightSample(wi, torch.full_like(p[0], INF), e, pdf)

    def radiance(self, d: Tensor) -> tuple[Tensor, Tensor]:
        """Disc radiance seen along escaping rays d, and the pdf NEE has for them."""
        solid_angle = 2 * math.pi * self.one_minus_cos
        inside = geo.dot_const(d, self.direction) >= 1 - self.one_minus_cos
        e = self.irradiance
        return torch.stack([inside * (e[i] / solid_angle) for i in range(3)]), torch.full_like(d[0], 1 / solid_angle)


@dataclass(frozen=True)
class ShapeLight:
    """An area light's rectangle or an emissive sphere, sampled by solid angle."""

    shape: Rect | Sphere
    shape_index: int
    radiance: tuple[float, float, float]

    def sample(self, p: Tensor, u1: Tensor, u2: Tensor) -> LightSample:
        wi, dist, pdf = self.shape.sample_toward(p, u1, u2)
        le = self.radiance
        over_pdf = torch.stack([le[i] / pdf for i in range(3)])
        return LightSample(wi, dist, over_pdf, pdf)  # an impossible sample has pdf inf

    def pdf(self, o: Tensor, d: Tensor, t: Tensor) -> Tensor:
        return self.shape.pdf_toward(o, d, t)


Emitter = Sun | ShapeLight
