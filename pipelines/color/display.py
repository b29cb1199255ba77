"""Display transforms for looking at scene-linear ACEScg frames on an sRGB screen.

Thumbnails, contact sheets and previews only: the result is an 8-bit, tone
mapped picture meant for eyes. It must never feed back into a master or a
measurement (use the scene-linear pixels for those).

The tone curve is Krzysztof Narkowicz's 2016 rational fit of the ACES 1.0
RRT + sRGB ODT, applied per channel to linear Rec.709 with his 0.6 input
scale, so 18% grey lands near 40% signal and highlights roll off to white at
about 12x scene white instead of clipping at 1.0.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Linear AP1 (ACEScg) -> linear Rec.709/sRGB primaries, D60 -> D65 by Bradford.
ACESCG_TO_REC709 = np.array(
    [
        [1.70505099, -0.62179212, -0.08325887],
        [-0.13025642, 1.14080474, -0.01054832],
        [-0.02400336, -0.12896898, 1.15297233],
    ],
    dtype=np.float64,
)

_NARKOWICZ_SCALE = 0.6
# Stand-in for +inf: large enough to tone map to white, small enough that the
# matrix's negative terms cannot turn inf - inf into NaN.
_BRIGHTEST = 65504.0


def _finite(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) array, got {rgb.shape}")
    return np.nan_to_num(rgb, nan=0.0, posinf=_BRIGHTEST, neginf=-_BRIGHTEST)


def _tone_curve(x: np.ndarray) -> np.ndarray:
    x = x * _NARKOWICZ_SCALE
    return np.clip((x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14), 0.0, 1.0)


def _srgb_oetf(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.power(v, 1 / 2.4) - 0.055)


def to_display_srgb(rgb: np.ndarray, exposure_stops: float = 0.0) -> np.ndarray:
    """ACEScg scene-linear (H, W, 3) -> tone-mapped sRGB uint8 (H, W, 3)."""
    linear = _finite(rgb) * np.float32(2.0**exposure_stops)
    rec709 = linear @ ACESCG_TO_REC709.T.astype(np.float32)
    # Out-of-gamut colours go negative in Rec.709; a display cannot show them.
    mapped = _tone_curve(np.clip(rec709, 0.0, _BRIGHTEST))
    return np.rint(_srgb_oetf(mapped) * 255.0).astype(np.uint8)


def thumbnail(rgb: np.ndarray, width: int, exposure_stops: float = 0.0) -> np.ndarray:
    """A ``width``-wide sRGB uint8 picture of an ACEScg frame, keeping its aspect."""
    if width < 1:
        raise ValueError(f"thumbnail width must be at least 1, got {width}")
    rgb = _finite(rgb)
    h, w = rgb.shape[:2]
    height = max(1, round(h * width / w))
    # Average areas in linear light, before tone mapping: that is how light
    # mixes (a small bright light stays visible), and it tone maps far fewer pixels.
    # A 2-D float32 array becomes a PIL "F" image, which BOX-resamples exactly.
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(rgb[..., c])).resize(
                (width, height), Image.Resampling.BOX
            )
        )
        for c in range(3)
    ]
    return to_display_srgb(np.stack(channels, axis=-1), exposure_stops)
