"""ASC CDL (v1.2) grades for scene-linear HDR.

out = max(in * slope + offset, 0) ** power, then saturation around Rec.709
luma. Nothing is clamped above 1.0: these grades ride on scene-linear HDR
(OCIO's CDL_NO_CLAMP style), so a 4.0 highlight graded by 1.1 becomes 4.4.
Negatives are clamped to 0 before the power, as the ASC spec says (OCIO's
NO_CLAMP style instead passes them through the power unchanged).

Works on numpy arrays and torch tensors alike, (..., 3) in the last axis,
keeping the input's kind, dtype and device. It must never import torch at
module level: the sequence spec imports this model, and the orchestrator's
pure core must stay free of torch.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, Strict

LUMA_709 = (0.2126, 0.7152, 0.0722)
# Far beyond any grade a colourist sets; bounded so a spec cannot ask for overflow.
_Slope = Annotated[float, Strict(), Field(ge=0, le=1000)]
_Offset = Annotated[float, Strict(), Field(ge=-1000, le=1000)]
_Power = Annotated[float, Strict(), Field(gt=0, le=100)]
Triple = tuple[float, float, float]


class CDL(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    slope: tuple[_Slope, _Slope, _Slope] = (1.0, 1.0, 1.0)
    offset: tuple[_Offset, _Offset, _Offset] = (0.0, 0.0, 0.0)
    power: tuple[_Power, _Power, _Power] = (1.0, 1.0, 1.0)
    saturation: Annotated[float, Strict()] = Field(1.0, ge=0, le=100)

    @property
    def is_identity(self) -> bool:
        return self == CDL()

    def apply(self, rgb: Any) -> Any:
        """Grade pixels; returns the same kind of array (numpy or torch) it was given."""
        if isinstance(rgb, np.ndarray):
            return self._apply_numpy(rgb)
        if type(rgb).__module__.startswith("torch"):
            return self._apply_torch(rgb)
        raise TypeError(f"expected a numpy array or torch tensor, got {type(rgb).__name__}")

    def _apply_numpy(self, rgb: np.ndarray) -> np.ndarray:
        if not np.issubdtype(rgb.dtype, np.floating):
            raise TypeError(f"CDL grades float pixels, got {rgb.dtype}")
        dt = rgb.dtype
        # Constants in the input's dtype, so float32 frames stay float32.
        slope, offset, power, luma_w = (
            np.asarray(v, dtype=dt) for v in (self.slope, self.offset, self.power, LUMA_709)
        )
        out = np.power(np.maximum(rgb * slope + offset, dt.type(0)), power)
        if self.saturation != 1.0:
            luma = (out * luma_w).sum(axis=-1, keepdims=True)
            out = luma + dt.type(self.saturation) * (out - luma)
        return out

    def _apply_torch(self, rgb: Any) -> Any:
        # Tensor methods only: this module never imports torch (the pure core imports the model).
        if not rgb.is_floating_point():
            raise TypeError(f"CDL grades float pixels, got {rgb.dtype}")
        slope, offset, power, luma_w = (rgb.new_tensor(v) for v in (self.slope, self.offset, self.power, LUMA_709))
        out = (rgb * slope + offset).clamp_min(0.0).pow(power)
        if self.saturation != 1.0:
            luma = (out * luma_w).sum(dim=-1, keepdim=True)
            out = luma + self.saturation * (out - luma)
        return out

    def as_asc_sop(self) -> str:
        """The EDL/CDL text form: (slope)(offset)(power)."""

        def triple(values: Triple) -> str:
            return " ".join(f"{v:.6g}" for v in values)

        return f"({triple(self.slope)})({triple(self.offset)})({triple(self.power)})"
