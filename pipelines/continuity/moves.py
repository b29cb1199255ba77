"""Camera moves on the ground plane: what a shot's `camera_move` does to the camera that looked.

A .blend shot's camera is moved by an override (pipelines.spec.sources
.CameraMove): a mirror across a line, or a yaw about a vertical line, applied
to the whole camera animation after the file loads. Both are rigid maps of the
ground (X and Z; heights kept), so a move is held here as p' = R p + t with R
a 2x2 rotation or reflection. That lets the continuity pass

- see a reported camera as a patched shot would render it (undo the move the
  frame was rendered with, apply the new one), and
- turn a fix computed on the rendered camera into the one override the shot
  can carry: the fix composed with the move already there.

Two moves compose into a rotation, a reflection, a translation or a glide
reflection; only the first two are a CameraMove, so `as_camera_move` refuses
the others and the rule asks a person instead.

This module must never read files or pixels: plain maths on poses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import ValidationError

from pipelines.render.engines.base import CameraPose
from pipelines.spec.base import ActionAxis, Vec3
from pipelines.spec.sources import CameraMove, Yaw

# Ground distances (metres) and matrix entries below this are taken as zero:
# far under anything a camera position means, far over float noise.
_EPS = 1e-6


class NotOneMove(ValueError):
    """The composed move is no single mirror or yaw (a slide, or a mirror plus a slide)."""


@dataclass(frozen=True)
class GroundMove:
    """p' = R p + t on the ground coordinates (x, z); heights are kept."""

    r: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 1.0)
    """Row-major 2x2 acting on (x, z)."""
    t: tuple[float, float] = (0.0, 0.0)

    def point(self, p: Vec3) -> Vec3:
        x, z = self._apply(p[0], p[2])
        return (x + self.t[0], p[1], z + self.t[1])

    def direction(self, d: Vec3) -> Vec3:
        x, z = self._apply(d[0], d[2])
        return (x, d[1], z)

    def _apply(self, x: float, z: float) -> tuple[float, float]:
        a, b, c, d = self.r
        return a * x + b * z, c * x + d * z

    def then(self, after: GroundMove) -> GroundMove:
        """This move followed by `after`."""
        a, b, c, d = after.r
        e, f, g, h = self.r
        tx, tz = after._apply(*self.t)
        return GroundMove((a * e + b * g, a * f + b * h, c * e + d * g, c * f + d * h), (tx + after.t[0], tz + after.t[1]))

    def inverse(self) -> GroundMove:
        a, b, c, d = self.r
        det = a * d - b * c  # +-1 for a rigid move
        inv = (d / det, -b / det, -c / det, a / det)
        back = GroundMove(inv)
        tx, tz = back._apply(*self.t)
        return GroundMove(inv, (-tx, -tz))

    @property
    def is_identity(self) -> bool:
        return all(abs(v - w) < _EPS for v, w in zip((*self.r, *self.t), (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)))


def mirror(axis: ActionAxis) -> GroundMove:
    """Reflection across the vertical plane through the line (as continuity.geometry.mirror)."""
    ux, uz = axis.b[0] - axis.a[0], axis.b[2] - axis.a[2]
    n = math.hypot(ux, uz)
    if n < _EPS:
        raise ValueError("a mirror needs a line of two distinct ground points")
    ux, uz = ux / n, uz / n
    r = (2 * ux * ux - 1, 2 * ux * uz, 2 * ux * uz, 2 * uz * uz - 1)
    # The line's points stay put: t = (I - R) a.
    ax, az = axis.a[0], axis.a[2]
    return GroundMove(r, (ax - (r[0] * ax + r[1] * az), az - (r[2] * ax + r[3] * az)))


def yaw(centre: Vec3, degrees: float) -> GroundMove:
    """Counter-clockwise seen from above about the vertical through `centre` (as continuity.geometry.yaw_about)."""
    a = math.radians(degrees)
    cos, sin = math.cos(a), math.sin(a)
    r = (cos, sin, -sin, cos)
    cx, cz = centre[0], centre[2]
    return GroundMove(r, (cx - (r[0] * cx + r[1] * cz), cz - (r[2] * cx + r[3] * cz)))


def of(move: CameraMove | None) -> GroundMove:
    """What a shot's camera_move does; no move is the identity."""
    if move is None:
        return GroundMove()
    if move.mirror is not None:
        return mirror(move.mirror)
    assert move.yaw is not None  # CameraMove holds exactly one
    return yaw(move.yaw.centre, move.yaw.degrees)


def as_camera_move(move: GroundMove) -> CameraMove | None:
    """The one override that does `move`; None for no move; NotOneMove when none does."""
    if move.is_identity:
        return None
    a, b, c, d = move.r
    tx, tz = move.t
    try:
        if a * d - b * c > 0:
            degrees = math.degrees(math.atan2(b, a))
            if abs(b) < _EPS and a > 0:
                raise NotOneMove("the moves add up to a slide of the camera, not a swing")
            # The centre is the fixed point: (I - R) c = t.
            m00, m01, m10, m11 = 1 - a, -b, -c, 1 - d
            det = m00 * m11 - m01 * m10
            cx, cz = (m11 * tx - m01 * tz) / det, (m00 * tz - m10 * tx) / det
            return CameraMove(yaw=Yaw(centre=(cx, 0.0, cz), degrees=degrees))
        half = math.atan2(b, a) / 2  # R = [[cos 2p, sin 2p], [sin 2p, -cos 2p]] mirrors across direction p
        ux, uz = math.cos(half), math.sin(half)
        if abs(tx * ux + tz * uz) > _EPS:
            raise NotOneMove("the moves add up to a mirror plus a slide along the line")
        px, pz = tx / 2, tz / 2  # a point of the line: t = 2 (its part across the line)
        return CameraMove(mirror=ActionAxis(a=(px, 0.0, pz), b=(px + ux, 0.0, pz + uz)))
    except ValidationError as e:
        raise NotOneMove(f"the composed move is out of the spec's bounds: {e.errors()[0]['msg']}") from None


def repose(pose: CameraPose, move: GroundMove) -> CameraPose:
    """The camera as `move` leaves it: position and aim moved, kept upright, lens unchanged."""
    if move.is_identity:
        return pose
    position = move.point(pose.position)
    forward = move.direction(pose.forward)
    look_at = (position[0] + forward[0], position[1] + forward[1], position[2] + forward[2])
    return CameraPose.looking(
        position, look_at, pose.fov, up=move.direction(pose.up), focal_mm=pose.focal_mm, sensor_mm=pose.sensor_mm
    )
