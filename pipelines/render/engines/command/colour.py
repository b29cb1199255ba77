"""From the colour space a DCC writes to the farm's scene-linear ACEScg, with the farm's pinned OCIO config.

The config is the built-in studio config the HDR masters use
(pipelines.color.views.OCIO_CONFIG), so a name means the same thing on every
node whatever $OCIO says. Names and aliases resolve through it
("lin_rec709" is "Linear Rec.709 (sRGB)"); a space that holds data, not
light (Raw), is refused.

An EXR may say what it holds itself (OpenEXR's `colorInteropID`, which
Blender 5 writes): `declared` names that space, so the engine can warn when
the file and the spec disagree. The spec's colour_space is still what the
pixels are converted from: it is the TD's word, and a DCC's default may be
wrong.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import PyOpenColorIO as ocio

from pipelines.color.views import OCIO_CONFIG

FARM_SPACE = "ACEScg"


@functools.cache
def _config() -> Any:
    return ocio.Config.CreateFromFile(OCIO_CONFIG)


def canonical(name: str) -> str:
    """The config's own name for a colour space or alias; ValueError naming the field otherwise."""
    space = _config().getColorSpace(name)
    if space is None:
        raise ValueError(f"scene.command.colour_space: {name!r} is not a colour space of the farm's OCIO config ({OCIO_CONFIG})")
    if space.isData():
        raise ValueError(f"scene.command.colour_space: {space.getName()!r} holds data, not light; the farm cannot make ACEScg of it")
    return str(space.getName())


@functools.cache
def _by_interop_id() -> dict[str, str]:
    config = _config()
    return {str(config.getColorSpace(n).getInteropID()): str(n) for n in config.getColorSpaceNames() if config.getColorSpace(n).getInteropID()}


def declared(interop_id: object) -> str | None:
    """The config's colour space for an EXR's colorInteropID; None when absent or unknown to the config."""
    return _by_interop_id().get(interop_id) if isinstance(interop_id, str) else None


class ToACEScg:
    """Converts (H, W, 3) float32 pixels from one colour space; the identity for ACEScg itself."""

    def __init__(self, source: str) -> None:
        self.source = canonical(source)
        self.identity = self.source == canonical(FARM_SPACE)
        self._cpu = None if self.identity else _config().getProcessor(self.source, FARM_SPACE).getDefaultCPUProcessor()

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        if self._cpu is None:
            return pixels
        out = np.ascontiguousarray(pixels, dtype=np.float32).copy()
        self._cpu.applyRGB(out)  # in place, on the float32 buffer
        return out
