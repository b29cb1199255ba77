"""The camera a DCC wrote into a frame's header, as the farm's CameraPose.

OpenEXR's standard `worldToCamera` (an Imath M44f) maps world points to
camera space with row vectors, p_camera = p_world . M, so the translation is
in the last row; its camera space is RenderMan's: left-handed, x right,
y up, looking down +Z. The farm's CameraPose is the column-vector matrix of
a right-handed camera looking down -Z, so it is S . M^T with S flipping z.
Several renderers write a right-handed camera instead (looking down -Z);
in a right-handed world (the farm's: Y up, metres) the two are told apart
by the sign of the rotation's determinant, and the flip is skipped for the
latter. A matrix with its translation in the last column instead of the
last row (written column-major) is read transposed. The world is taken to be
the farm's: a render script for a Z-up DCC converts (examples/commandline/
render_blend.py does).

Vertical field of view, from `worldToNDC` where present: NDC runs 0..1 down
the display window's height, so two world points one unit ahead of the
camera and one unit apart along its up axis land |dy| apart in NDC, and
tan(fov / 2) = 0.5 / |dy| (points are row vectors, divided by their w,
which for a pinhole camera is the depth). Without worldToNDC, or with an
orthographic one, there is no field of view, so no camera is reported.

This module must never read a file or log: it maps header values to a pose,
or to why there is none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines.render.engines.base import CameraPose

_FLIP_Z = np.diag([1.0, 1.0, -1.0, 1.0])
_RIGID = 1e-3
"""How far from orthonormal a camera's rotation may be (float32 headers, a DCC's own rounding)."""


@dataclass(frozen=True)
class HeaderCamera:
    pose: CameraPose | None
    problem: str | None = None
    """Why a header that has a camera matrix gives no pose."""


def read(header: Mapping[str, Any]) -> HeaderCamera:
    """The camera in `header`; no pose when it has none, and the reason when it has one the farm cannot read."""
    raw = header.get("worldToCamera")
    if raw is None:
        return HeaderCamera(None)
    world_to_camera = _matrix(raw)
    if world_to_camera is None:
        return HeaderCamera(None, "worldToCamera is not a finite 4x4 matrix")
    column = _column_form(world_to_camera)
    if column is None:
        return HeaderCamera(None, "worldToCamera is not a rigid camera transform")
    ndc = _matrix(header.get("worldToNDC"))
    fov = None if ndc is None else field_of_view(column, ndc)
    if fov is None:
        return HeaderCamera(None, "it has worldToCamera but no perspective worldToNDC, so no field of view")
    return HeaderCamera(CameraPose(world_to_camera=tuple(float(v) for v in column.reshape(16)), fov=fov))


def _matrix(raw: object) -> np.ndarray | None:
    if raw is None:
        return None
    try:
        m = np.asarray(raw, dtype=np.float64).reshape(4, 4)
    except (TypeError, ValueError):
        return None
    return m if np.isfinite(m).all() else None


def _column_form(m: np.ndarray) -> np.ndarray | None:
    """The farm's world_to_camera (column vectors, right-handed, looking down -Z) from a header matrix."""
    if np.allclose(m[:3, 3], 0.0, atol=1e-9) and abs(m[3, 3] - 1.0) < _RIGID:
        column = m.T  # the standard row-vector layout
    elif np.allclose(m[3, :3], 0.0, atol=1e-9) and abs(m[3, 3] - 1.0) < _RIGID:
        column = m.copy()  # written column-major
    else:
        return None
    rotation = column[:3, :3]
    if not np.allclose(rotation @ rotation.T, np.eye(3), atol=_RIGID):
        return None
    # A left-handed camera (the standard's) in a right-handed world has a mirrored rotation.
    return _FLIP_Z @ column if np.linalg.det(rotation) < 0 else column


def field_of_view(world_to_camera: np.ndarray, world_to_ndc: np.ndarray) -> float | None:
    """Vertical field of view in degrees from the standard row-vector worldToNDC; None where it is not a perspective."""
    inverse = np.linalg.inv(world_to_camera)
    position, up, forward = inverse[:3, 3], inverse[:3, 1], -inverse[:3, 2]
    ahead = np.append(position + forward, 1.0) @ world_to_ndc
    above = np.append(position + forward + up, 1.0) @ world_to_ndc
    further = np.append(position + 2 * forward, 1.0) @ world_to_ndc
    # A pinhole divides by depth: w doubles twice as far ahead. An orthographic camera's w does not change.
    if not (ahead[3] > 0 and above[3] > 0 and math.isclose(further[3], 2 * ahead[3], rel_tol=1e-3)):
        return None
    dy = abs(above[1] / above[3] - ahead[1] / ahead[3])
    if not math.isfinite(dy) or dy == 0:
        return None
    fov = math.degrees(2 * math.atan(0.5 / dy))
    return fov if 0 < fov < 180 else None
