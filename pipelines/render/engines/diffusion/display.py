"""Between a diffusion model's pictures (display-referred) and the farm's (scene-linear ACEScg).

A video model is trained on graded, display-encoded video: what it makes is
what an sRGB screen shows, not light in a scene. It enters the master the
way a picture made for that screen would: through the exact inverse of the
pinned config's SDR view (pipelines.color.views.SDR_SRGB, the ACES 2.0 SDR
output transform on an sRGB display), so a generated shot tone-maps back to
the same picture in every review proxy and sits beside rendered shots in
the HDR master at the SDR view's levels. A conditioning frame taken from the
farm's own EXRs goes the other way, through the forward view.

The inverse is exact OCIO (not the baked grid): a clip is a few dozen
frames and the inverse's slope near display white is steep, where a grid
would be coarsest.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import PyOpenColorIO as ocio

from pipelines.color.views import OCIO_CONFIG, SDR_SRGB, config, to_display

CONVERSION = f"{OCIO_CONFIG}: inverse of {SDR_SRGB.name} -> ACEScg (display-referred source)"
"""The provenance a generated frame carries (EXR attribute diffusion.colourConversion)."""


@functools.cache
def _inverse() -> Any:
    transform = ocio.DisplayViewTransform(
        src="ACEScg", display=SDR_SRGB.display, view=SDR_SRGB.view, direction=ocio.TRANSFORM_DIR_INVERSE
    )
    return config().getProcessor(transform).getDefaultCPUProcessor()


def to_scene_linear(display: np.ndarray) -> np.ndarray:
    """Display-encoded sRGB in [0, 1], (H, W, 3) -> scene-linear ACEScg float32 (H, W, 3), a new array."""
    if display.ndim != 3 or display.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) picture, got {display.shape}")
    rgb = np.ascontiguousarray(np.clip(display, 0.0, 1.0), dtype=np.float32).copy()
    _inverse().applyRGB(rgb)
    return rgb


def to_picture(acescg: np.ndarray) -> np.ndarray:
    """A farm frame (scene-linear ACEScg) as the sRGB screen shows it: uint8 (H, W, 3)."""
    return np.round(to_display(acescg, SDR_SRGB, exact=True) * 255.0).astype(np.uint8)
