"""Staging geometry: where the subject is and where it falls on screen.

The projection is the path tracer's pinhole camera (pipelines.render.world
.lens): forward towards look_at, right = forward x up(+Y), vertical fov.
Screen coordinates here run -1..1 across the frame width and height, +x right.
The line of action lives on the ground plane, so sides and mirrors use X and Z
only and leave heights alone.

A pose is anything with a position, a look_at and a vertical fov: a spec
CameraKey, or a camera an engine reported (continuity.staging.View).

This module must never render or read pixels: it is exact, cheap maths on the
spec and the engines' reports, which is why the staging rules prefer it to
looking at frames.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

from pipelines.render.geometry import cross, sub, unit, vdot
from pipelines.spec.scene import ActionAxis, Box, Camera, Scene, Sphere, Vec3, offset_at

_UP = (0.0, 1.0, 0.0)


class Pose(Protocol):
    @property
    def position(self) -> Vec3: ...

    @property
    def look_at(self) -> Vec3: ...

    @property
    def fov(self) -> float: ...


def basis(key: Pose) -> tuple[Vec3, Vec3, Vec3]:
    """(forward, right, up) unit vectors of a camera pose, as the renderer builds them."""
    forward = unit(sub(key.look_at, key.position))
    side = cross(forward, _UP)
    right = unit(side) if vdot(side, side) > 1e-12 else (1.0, 0.0, 0.0)
    return forward, right, cross(right, forward)


def project(key: Pose, point: Vec3, aspect: float) -> tuple[float, float] | None:
    """Screen position of a world point (-1..1 across the frame), None when behind the camera."""
    forward, right, up = basis(key)
    d = sub(point, key.position)
    depth = vdot(d, forward)
    if depth <= 1e-6:
        return None
    half_h = math.tan(math.radians(key.fov) / 2)
    return vdot(d, right) / (depth * half_h * aspect), vdot(d, up) / (depth * half_h)


def subject_of(scene: Scene) -> Sphere | Box | None:
    """The scene's declared subject when it has a centre (a plane has none)."""
    for obj in scene.objects:
        if obj.name == scene.subject and isinstance(obj, Sphere | Box):
            return obj
    return None


def subject_centre(obj: Sphere | Box, frame: float) -> Vec3:
    """Centre of the subject at a shot-relative frame, motion included."""
    if isinstance(obj, Sphere):
        c = obj.center
    else:
        c = tuple((lo + hi) / 2 for lo, hi in zip(obj.min, obj.max))  # type: ignore[assignment]
    off = offset_at(obj.motion, frame)
    return (c[0] + off[0], c[1] + off[1], c[2] + off[2])


def subject_radius(obj: Sphere | Box) -> float:
    """Radius of the subject's bounding sphere (what sets its size in frame)."""
    if isinstance(obj, Sphere):
        return obj.radius
    return math.dist(obj.min, obj.max) / 2


def shot_size(key: Pose, centre: Vec3, radius: float) -> float:
    """The subject's height as a fraction of frame height: ~1 is a close-up, ~0.1 a wide."""
    dist = math.dist(key.position, centre)
    return radius / max(dist, 1e-9) / math.tan(math.radians(key.fov) / 2)


def ray_angle(cam_a: Vec3, at_a: Vec3, cam_b: Vec3, at_b: Vec3) -> float:
    """Degrees between two camera-to-subject rays."""
    cos = vdot(unit(sub(at_a, cam_a)), unit(sub(at_b, cam_b)))
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


def axis_side(axis: ActionAxis, p: Vec3) -> float:
    """Signed ground distance from the line of action: > 0 on one side, < 0 on the other.

    The sign is that of cross((b - a)xz, (p - a)xz); only the comparison between
    two cameras means anything.
    """
    ux, uz = axis.b[0] - axis.a[0], axis.b[2] - axis.a[2]
    vx, vz = p[0] - axis.a[0], p[2] - axis.a[2]
    length = math.hypot(ux, uz)
    if length == 0:
        raise ValueError("the action axis needs two distinct ground points")
    return (ux * vz - uz * vx) / length


def mirror(axis: ActionAxis, p: Vec3) -> Vec3:
    """Reflect a point across the vertical plane through the line of action."""
    ax, az = axis.a[0], axis.a[2]
    ux, uz = axis.b[0] - ax, axis.b[2] - az
    n = math.hypot(ux, uz)
    ux, uz = ux / n, uz / n
    vx, vz = p[0] - ax, p[2] - az
    along = vx * ux + vz * uz
    fx, fz = ax + along * ux, az + along * uz  # foot of the perpendicular
    return (2 * fx - p[0], p[1], 2 * fz - p[2])


def yaw_about(p: Vec3, centre: Vec3, degrees: float) -> Vec3:
    """Rotate a point about the vertical line through `centre` (positive is counter-clockwise seen from above)."""
    a = math.radians(degrees)
    x, z = p[0] - centre[0], p[2] - centre[2]
    # Seen from +Y looking down, X right and Z down the page: CCW takes +X towards -Z.
    return (centre[0] + x * math.cos(a) + z * math.sin(a), p[1], centre[2] - x * math.sin(a) + z * math.cos(a))


def moved_keys(camera: Camera, move: Callable[[Vec3], Vec3]) -> list[dict]:
    """The camera's keys as spec JSON with `move` applied to every position and look_at."""
    return [
        {"frame": k.frame, "position": list(move(k.position)), "look_at": list(move(k.look_at)), "fov": k.fov}
        for k in camera.keys
    ]
