"""ASC CDL (v1.2) grades for scene-linear HDR.

out = max(in * slope + offset, 0) ** power, then saturation around Rec.709
luma. Nothing is clamped above 1.0: these grades ride on scene-linear HDR
(OCIO's CDL_NO_CLAMP style), so a 4.0 highlight graded by 1.1 becomes 4.4.
Works on numpy arrays and torch tensors alike, (..., 3) in the last axis.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

LUMA_709 = (0.2126, 0.7152, 0.0722)
Triple = tuple[float, float, float]


class CDL(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    slope: Triple = (1.0, 1.0, 1.0)
    offset: Triple = (0.0, 0.0, 0.0)
    power: Triple = (1.0, 1.0, 1.0)
    saturation: float = Field(1.0, ge=0)

    @property
    def is_identity(self) -> bool:
        return self == CDL()

    def apply(self, rgb: Any) -> Any:
        """Grade pixels; returns the same kind of array it was given."""
        if isinstance(rgb, np.ndarray):
            xp_max, xp_pow = np.maximum, np.power
            slope, offset, power = (np.asarray(v, dtype=rgb.dtype) for v in (self.slope, self.offset, self.power))
            luma_w = np.asarray(LUMA_709, dtype=rgb.dtype)
            zero = np.asarray(0.0, dtype=rgb.dtype)
        else:  # torch
            import torch

            def xp_max(a, b):
                return torch.clamp_min(a, 0.0)

            xp_pow = torch.pow
            slope, offset, power, luma_w = (
                torch.tensor(v, dtype=rgb.dtype, device=rgb.device)
                for v in (self.slope, self.offset, self.power, LUMA_709)
            )
            zero = None
        out = xp_pow(xp_max(rgb * slope + offset, zero), power)
        if self.saturation != 1.0:
            luma = (out * luma_w).sum(-1, keepdims=True) if zero is not None else (out * luma_w).sum(-1, keepdim=True)
            out = luma + self.saturation * (out - luma)
        return out

    def as_asc_sop(self) -> str:
        """The EDL/CDL text form: (slope)(offset)(power)."""
        f = lambda t: " ".join(f"{v:.6g}" for v in t)  # noqa: E731
        return f"({f(self.slope)})({f(self.offset)})({f(self.power)})"
