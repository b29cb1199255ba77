"""Colour temperature <-> scene-linear ACEScg, for lights specified in kelvin.

Lights in a shot spec give a correlated colour temperature; the renderer needs
an ACEScg RGB. We integrate Planck's law against the CIE 1931 2-degree colour
matching functions (the Wyman-Sloan-Shirley 2013 multi-lobe fit, so no tables
are needed and the whole 1000-40000 K range of the spec works, unlike the Kang
2002 cubic which stops at 1667 K), take the chromaticity, and convert
XYZ -> AP1.

No chromatic adaptation is applied. A blackbody's chromaticity is absolute, not
relative to some display white, so it maps straight into ACEScg's primaries;
that is what a camera white-balanced to the ACES white (~D60, about 6000 K)
would record. A Bradford D65 -> D60 step belongs to converting D65-referred
data such as sRGB textures, and applying it here would tint every light.

The reverse (`acescg_to_xy`, `cct_from_xy`) lets a continuity pass estimate the
temperature of rendered light from pixels, using McCamy's 1992 formula.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

# ACES TB-2014-004: XYZ (D60-referred) <-> AP1. The middle row of AP1 -> XYZ is
# AP1's luminance weights.
XYZ_TO_AP1 = (
    (1.6410233797, -0.3248032942, -0.2364246952),
    (-0.6636628587, 1.6153315917, 0.0167563477),
    (0.0117218943, -0.0082844420, 0.9883948585),
)
AP1_TO_XYZ = (
    (0.6624541811, 0.1340042065, 0.1561876870),
    (0.2722287168, 0.6740817658, 0.0536895174),
    (-0.0055746495, 0.0040607335, 1.0103391003),
)
AP1_LUMINANCE = AP1_TO_XYZ[1]

_C2 = 1.4387769e-2  # second radiation constant h*c/k, metre-kelvin
_WAVELENGTHS_NM = range(360, 831)  # the CMFs are negligible outside this


def _lobe(nm: float, mean: float, below: float, above: float) -> float:
    s = below if nm < mean else above
    return math.exp(-0.5 * ((nm - mean) / s) ** 2)


def _cmf(nm: float) -> tuple[float, float, float]:
    """CIE 1931 x-bar, y-bar, z-bar at a wavelength (Wyman et al. 2013, multi-lobe fit)."""
    x = (
        1.056 * _lobe(nm, 599.8, 37.9, 31.0)
        + 0.362 * _lobe(nm, 442.0, 16.0, 26.7)
        - 0.065 * _lobe(nm, 501.1, 20.4, 26.2)
    )
    y = 0.821 * _lobe(nm, 568.8, 46.9, 40.5) + 0.286 * _lobe(nm, 530.9, 16.3, 31.1)
    z = 1.217 * _lobe(nm, 437.0, 11.8, 36.0) + 0.681 * _lobe(nm, 459.0, 26.0, 13.8)
    return x, y, z


def planckian_xy(kelvin: float) -> tuple[float, float]:
    """CIE 1931 xy chromaticity of a blackbody at this temperature."""
    if kelvin <= 0:
        raise ValueError(f"temperature must be positive, got {kelvin} K")
    big_x = big_y = big_z = 0.0
    for nm in _WAVELENGTHS_NM:
        metres = nm * 1e-9
        # The constant factor of Planck's law cancels in the chromaticity.
        radiance = 1.0 / (metres**5 * math.expm1(_C2 / (metres * kelvin)))
        x, y, z = _cmf(nm)
        big_x += radiance * x
        big_y += radiance * y
        big_z += radiance * z
    total = big_x + big_y + big_z
    return big_x / total, big_y / total


@lru_cache(maxsize=256)
def kelvin_to_acescg(kelvin: float) -> tuple[float, float, float]:
    """ACEScg RGB of a blackbody at `kelvin`, scaled to AP1 luminance 1.0."""
    x, y = planckian_xy(kelvin)
    xyz = (x / y, 1.0, (1.0 - x - y) / y)  # xyY with Y = 1
    r, g, b = (sum(m * c for m, c in zip(row, xyz)) for row in XYZ_TO_AP1)
    # The locus lies inside AP1 over the spec's range; the guard only absorbs
    # rounding, so the luminance stays 1.0 to float precision.
    return max(r, 0.0), max(g, 0.0), max(b, 0.0)


def acescg_to_xy(rgb: Sequence[float]) -> tuple[float, float]:
    """CIE xy chromaticity of an ACEScg colour (which must not be black)."""
    big_x, big_y, big_z = (sum(m * c for m, c in zip(row, rgb)) for row in AP1_TO_XYZ)
    total = big_x + big_y + big_z
    if total <= 0:
        raise ValueError(f"colour {tuple(rgb)} has no chromaticity")
    return big_x / total, big_y / total


def cct_from_xy(x: float, y: float) -> float:
    """Correlated colour temperature (kelvin) by McCamy's cubic; good to ~2% over 2000-12000 K."""
    n = (x - 0.3320) / (0.1858 - y)
    return 449.0 * n**3 + 3525.0 * n**2 + 6823.3 * n + 5520.33


def luminance(rgb: Sequence[float]) -> float:
    """AP1 luminance (CIE Y) of an ACEScg colour."""
    return sum(w * c for w, c in zip(AP1_LUMINANCE, rgb))
