"""The path tracer's random numbers: a hash of the frame, the sample, the bounce and the dimension.

No generator state is carried from one number to the next, so a number
depends only on which sample asked for it, for what: the steps compute
their own numbers inside the kernel that uses them, a frame's paths do not
depend on how it was cut into tiles or in what order they were traced, and
the compiled and op-by-op steps draw the same numbers (integer ops, exact).

The hash is Wellons' lowbias32 on int32 lanes: multiplications wrap modulo
2^32 and every right shift is masked, so an arithmetic shift of a negative
lane gives the logical shift's bits. A sample's own hash (its index in the
frame and the frame's key) is hashed again with one salt per dimension of
a bounce; the salts are drawn from the frame's seed here, in Python.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Numbers the camera draws for a sample (the jitter inside its pixel), and
# the depth its salts are drawn for: the bounces count from 0.
CAMERA_DIMENSIONS = 2
CAMERA = -1
MASK64 = (1 << 64) - 1


def _int32(value: int) -> int:
    """The int32 with the same low 32 bits as value."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _hash(x: Tensor) -> Tensor:
    x = x ^ ((x >> 16) & 0xFFFF)
    x = x * 0x7FEB352D
    x = x ^ ((x >> 15) & 0x1FFFF)
    x = x * _int32(0x846CA68B)
    return x ^ ((x >> 16) & 0xFFFF)


def _mix64(value: int) -> int:
    """splitmix64's finaliser: a stable 64-bit mix for the salts."""
    value = (value + 0x9E3779B97F4A7C15) & MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK64
    return value ^ (value >> 31)


def key(seed: int, first: int, depth: int, dimensions: int, device: torch.device) -> Tensor:
    """The (2 + dimensions,) int32 key of one tile's numbers at one depth (CAMERA: the camera's).

    Row 0 is the frame index of the tile's first sample, row 1 the frame's
    key, then one salt per dimension.
    """
    salts = [_mix64(_mix64(seed) ^ _mix64((depth + 1) << 32 | j)) for j in range(dimensions)]
    rows = [first, _mix64(seed)] + salts
    return torch.tensor([_int32(r) for r in rows], dtype=torch.int32, device=device)


def uniforms(sample: Tensor, key: Tensor) -> Tensor:
    """Numbers in [0, 1) on a 2^-24 grid, one row per salt of key, one column per sample.

    sample holds the tile's sample indices (any integer dtype), key is `key`'s.
    """
    own = _hash((sample.to(torch.int32) + key[0]) ^ key[1])
    bits = _hash(own ^ key[2:, None])
    return ((bits >> 8) & 0xFFFFFF).to(torch.float32) * 2.0**-24
