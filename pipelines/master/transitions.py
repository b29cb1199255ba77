"""Mixing frames for transitions (dissolves), in scene-linear light.

A dissolve is a weighted sum of the shots' scene-linear ACEScg frames:
light adds linearly, so mixing before any display transform is what a
physical cross-fade (and a film optical) does. It must never be given
display-referred (tone-mapped, PQ or sRGB-encoded) pixels, and never
renormalise weights that do not sum to 1: that would hide an editorial
error (a dip or a flash) instead of reporting it.
"""

from __future__ import annotations

import math

import numpy as np

# Weights come from editorial fractions like 1/3 + 2/3; allow float rounding only.
WEIGHT_TOLERANCE = 1e-6


def blend(layers: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """Weighted sum of (H, W, 3) scene-linear frames; weights in [0, 1] summing to 1.

    Returns float32. A single layer of weight 1 is returned as a float32 copy.
    """
    if not layers:
        raise ValueError("blend needs at least one layer")
    shape = layers[0][0].shape
    total = 0.0
    for i, (pixels, weight) in enumerate(layers):
        if pixels.shape != shape:
            raise ValueError(f"layer {i} is {pixels.shape}, layer 0 is {shape}")
        if not np.issubdtype(pixels.dtype, np.floating):
            raise ValueError(f"layer {i} has {pixels.dtype} pixels; blend scene-linear floats")
        if not (math.isfinite(weight) and 0.0 <= weight <= 1.0):
            raise ValueError(f"layer {i} weight {weight} is outside [0, 1]")
        total += weight
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise ValueError(f"weights sum to {total}, not 1: a dissolve must not dip or flash")
    out = np.zeros(shape, np.float32)
    for pixels, weight in layers:
        out += np.float32(weight) * pixels.astype(np.float32, copy=False)
    return out
