"""Pictures for eyes on an sRGB screen: thumbnails, contact sheets, previews.

The pixels go through the pinned config's ``sRGB - Display`` /
``ACES 2.0 - SDR 100 nits (Rec.709)`` view (pipelines.color.views), the
same ACES 2.0 output transform as the HDR10 master and the SDR review
proxy: 18% grey lands on code 89 and scene 1.0 on 180. The result is an
8-bit picture; it must never feed back into a master or a measurement (use
the scene-linear pixels for those).

Unlike a master, a picture of a broken frame is still worth showing, so
NaN becomes black and infinities the brightest half-float instead of an
error.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from pipelines.color.views import SDR_SRGB, to_display

# Stand-in for +inf: large enough to display as white, small enough that the
# view's matrices cannot turn inf - inf into NaN.
_BRIGHTEST = 65504.0


def _finite(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) array, got {rgb.shape}")
    return np.nan_to_num(rgb, nan=0.0, posinf=_BRIGHTEST, neginf=-_BRIGHTEST)


def to_display_srgb(rgb: np.ndarray, exposure_stops: float = 0.0, *, exact: bool = False) -> np.ndarray:
    """ACEScg scene-linear (H, W, 3) -> sRGB uint8 (H, W, 3) through the ACES 2.0 SDR view."""
    linear = _finite(rgb) * np.float32(2.0**exposure_stops)
    np.clip(linear, -_BRIGHTEST, _BRIGHTEST, out=linear)  # exposure must not overflow to inf
    return np.rint(to_display(linear, SDR_SRGB, exact=exact) * 255.0).astype(np.uint8)


def thumbnail(rgb: np.ndarray, width: int, exposure_stops: float = 0.0, *, exact: bool = False) -> np.ndarray:
    """A ``width``-wide sRGB uint8 picture of an ACEScg frame, keeping its aspect."""
    if width < 1:
        raise ValueError(f"thumbnail width must be at least 1, got {width}")
    rgb = _finite(rgb)
    h, w = rgb.shape[:2]
    height = max(1, round(h * width / w))
    # Average areas in linear light, before the display transform: that is how
    # light mixes (a small bright light stays visible), and it transforms far fewer pixels.
    # A 2-D float32 array becomes a PIL "F" image, which BOX-resamples exactly.
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(rgb[..., c])).resize(
                (width, height), Image.Resampling.BOX
            )
        )
        for c in range(3)
    ]
    return to_display_srgb(np.stack(channels, axis=-1), exposure_stops, exact=exact)
