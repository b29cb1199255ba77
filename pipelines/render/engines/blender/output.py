"""What Blender wrote for one frame, read back as the farm's pixels: scene-linear ACEScg float32.

Blender renders in its file's working colour space (Linear Rec.709 unless the
file says otherwise) and names it in the EXR header as an OCIO interop ID
(`colorInteropID`, e.g. lin_rec709_scene). The farm converts from the colour
space carrying that same ID in its own pinned ACES config, so Blender's
config and the farm's never have to agree on names.

This module must never import bpy.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import OpenEXR

from pipelines.color.views import OCIO_CONFIG, config

ACESCG = "ACEScg"


@dataclass(frozen=True)
class BlenderImage:
    pixels: np.ndarray
    """(H, W, 3) float32 ACEScg."""
    depth: np.ndarray | None
    """(H, W) float32 distance along the view axis (Blender writes 1e10 where nothing was hit)."""
    source_space: str
    """The farm config's name for the colour space Blender rendered in."""
    samples: str | None


@functools.cache
def space_for(interop_id: str) -> str:
    """The farm config's colour space with this OCIO interop ID; ValueError when it has none."""
    cfg = config()
    for name in cfg.getColorSpaceNames():
        if cfg.getColorSpace(name).getInteropID() == interop_id:
            return str(name)
    raise ValueError(f"the farm's colour config ({OCIO_CONFIG}) has no colour space with interop ID {interop_id!r}")


@functools.cache
def _processor(source: str) -> Any:
    return config().getProcessor(source, ACESCG).getDefaultCPUProcessor()


def to_acescg(rgb: np.ndarray, source: str) -> np.ndarray:
    """A copy of (H, W, 3) scene-linear pixels in `source`, converted to ACEScg."""
    out = np.ascontiguousarray(rgb, dtype=np.float32).copy()
    if source != ACESCG:
        _processor(source).applyRGB(out)
    return out


def read(path: Path, layer: str, interop_id: str, *, depth: bool) -> BlenderImage:
    """Beauty (and depth) of the view layer `layer` from Blender's multilayer EXR."""
    with OpenEXR.File(str(path)) as exr:
        channels: dict[str, Any] = {}
        header: dict[str, Any] = {}
        for part in exr.parts:
            channels.update(part.channels)
            header = header or dict(part.header)
    beauty = channels.get(f"{layer}.Combined")
    if beauty is None:
        raise RuntimeError(f"{path.name} has no {layer}.Combined pass (it has: {', '.join(sorted(channels))})")
    rgb = np.asarray(beauty.pixels)[..., :3]
    source = space_for(str(header.get("colorInteropID", interop_id)))
    z = None
    if depth:
        found = channels.get(f"{layer}.Depth.Z")
        if found is None:
            raise RuntimeError(f"{path.name} has no {layer}.Depth pass")
        z = np.ascontiguousarray(found.pixels, dtype=np.float32)
    samples = header.get(f"cycles.{layer}.samples")
    return BlenderImage(to_acescg(rgb, source), z, source, None if samples is None else str(samples))
