"""How a surface of the path tracer scatters light: a Lambert base and a Fresnel-weighted Phong lobe."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from pipelines.render import geometry as geo
from pipelines.render.geometry import dot


@dataclass(frozen=True)
class Bsdf:
    """Lambert base plus, for glossy surfaces, a Fresnel-weighted Phong lobe.

    f cos = (1 - F) albedo cos / pi + F D,  D = (e + 1) / (2 pi) cos^e(angle to mirror)
    D is a normalised distribution of reflected directions, so the lobe returns
    F times the part of it above the surface: at most 1 - F + F, and a perfect
    mirror of reflectance F as e grows, at grazing angles too (a plain modified
    Phong lobe fades to black there). It is not reciprocal, which a tracer that
    only follows camera paths never relies on.
    The lobe is picked in proportion to its share of the reflected energy,
    F : (1 - F) max(albedo), and weights use the mixture pdf, so a dark glossy
    stone does not sparkle and every weight stays <= 1.
    """

    n: Tensor
    albedo: Tensor
    fresnel: Tensor | None  # None when no surface in the batch is glossy
    exponent: Tensor
    mirror: Tensor
    p_lobe: Tensor

    def eval(self, wi: Tensor) -> tuple[Tensor, Tensor]:
        """f * cos and the sampling pdf for directions wi (both 0 below the surface)."""
        cos = dot(self.n, wi).clamp_min(0)
        if self.fresnel is None:
            return self.albedo * (cos / math.pi), cos / math.pi
        lobe = dot(self.mirror, wi).clamp_min(0) ** self.exponent
        lobe = torch.where(cos > 0, (self.exponent + 1) / (2 * math.pi) * lobe, 0.0)
        f_cos = self.albedo * ((1 - self.fresnel) * cos / math.pi) + self.fresnel * lobe
        return f_cos, (1 - self.p_lobe) * cos / math.pi + self.p_lobe * lobe

    def sample(self, u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """New directions, throughput weights f*cos/pdf and their pdfs."""
        if self.fresnel is None:
            wi = geo.cosine_hemisphere(self.n, u[0], u[1])
            return wi, self.albedo, dot(self.n, wi).clamp_min(0) / math.pi
        spec = u[2] < self.p_lobe
        axis = torch.where(spec, self.mirror, self.n)
        polar = torch.where(
            spec, geo.phong_one_minus_cos(self.exponent, u[0]), geo.cosine_one_minus_cos(u[0])
        )
        wi = geo.around(axis, polar, u[1])
        f_cos, pdf = self.eval(wi)
        return wi, torch.where(pdf > 0, f_cos / pdf.clamp_min(1e-30), 0.0), pdf
