"""Staging of one side of a cut at one frame: the camera, the subject and the line of action.

The staging rules (180 degrees, 30 degrees, screen direction) need the same
three things whichever program rendered the shot:

- A spec shot (the built-in renderer's scene, a camera move in the spec) is
  staged from the spec, at any frame, exactly: camera keys, the subject
  object with its motion, the scene's action_axis.
- A shot rendered from a studio's own file (.blend, a DCC command line) has
  no camera or objects in the spec. It is staged from what the engine
  reported with the frame (pipelines.render.reported): the camera that
  looked, and the watched objects' world positions. The subject is the
  object the set names as its subject; the line of action runs through the
  ground positions of the set's two `action_line` objects (where a set names
  none, its action_axis in farm coordinates). Only frames that carry a report
  can be staged: the boundary frame, and the neighbouring frame the check
  node reads for motion.

A reported subject is a point. Its size only scales the shot sizes the
30-degree rule reports; the rule judges their ratio, where the radius cancels
because both sides stage the same subject. SUBJECT_RADIUS stands in for it.

Cameras are taken as upright, the way the renderer and CameraPose.looking
build them: a rolled camera is staged by where it is and where it looks.

This module must never read files or pixels: the check node hands the reports in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import ValidationError

from pipelines.continuity import geometry as geo
from pipelines.continuity.cut import CutSide
from pipelines.render.engines.base import CameraPose
from pipelines.spec.base import ActionAxis, Vec3

SUBJECT_RADIUS = 0.9
"""Metres: half a standing adult, the usual subject of a shot. Shown in the 30-degree rule's
sizes only; their ratio, which it judges, does not depend on it."""


@dataclass(frozen=True)
class View:
    """A camera pose as the staging geometry reads it (continuity.geometry.Pose)."""

    position: Vec3
    look_at: Vec3
    fov: float
    """Vertical field of view in degrees."""

    @classmethod
    def of(cls, pose: CameraPose) -> View:
        p, f = pose.position, pose.forward
        return cls(position=p, look_at=(p[0] + f[0], p[1] + f[1], p[2] + f[2]), fov=pose.fov)


@dataclass(frozen=True)
class Staging:
    """Where things are on one side of a cut at one timeline frame."""

    frame: int
    camera: View
    subject: Vec3 | None
    """The subject's centre; None when the set has none or the frame did not report it."""
    radius: float
    """The subject's bounding radius (SUBJECT_RADIUS for a reported subject)."""
    line: ActionAxis | None
    """The line of action on the ground, when the set has one."""
    aspect: float


def staging(side: CutSide, frame: int | None = None) -> Staging | None:
    """The side staged at a timeline frame (the boundary by default); None when its camera is unknown there."""
    frame = side.frame if frame is None else frame
    report = side.report_at(frame)
    if side.setup.camera is not None:
        key = side.setup.camera.at(side.relative(frame))
        camera = View(key.position, key.look_at, key.fov)
    elif report is not None and report.camera is not None:
        camera = View.of(report.camera)
    else:
        return None
    subject, radius = _subject(side, frame)
    w, h = side.setup.resolution
    return Staging(frame=frame, camera=camera, subject=subject, radius=radius, line=_line(side, frame), aspect=w / h)


def motion_frames(side: CutSide, step: int) -> tuple[Staging, Staging] | None:
    """Two stagings of the side with its subject, in frame order, for motion at the cut.

    `step` is -1 for the left side (its last two frames) and +1 for the right
    (its first two). A reported shot uses whichever neighbour frame the check
    node read; None when no second frame with the subject can be staged.
    """
    here = staging(side)
    if here is None or here.subject is None:
        return None
    candidates = [side.frame + step]
    if side.neighbour is not None and side.neighbour[0] not in candidates:
        candidates.append(side.neighbour[0])
    for frame in candidates:
        there = staging(side, frame)
        if there is not None and there.subject is not None and frame != side.frame:
            return (there, here) if frame < side.frame else (here, there)
    return None


def _subject(side: CutSide, frame: int) -> tuple[Vec3 | None, float]:
    scene = side.setup.scene
    obj = geo.subject_of(scene)
    if obj is not None:
        return geo.subject_centre(obj, side.relative(frame)), geo.subject_radius(obj)
    name = scene.blend.subject if scene.blend is not None else scene.command.subject if scene.command is not None else None
    report = side.report_at(frame)
    if name is None or report is None:
        return None, SUBJECT_RADIUS
    return report.objects.get(name), SUBJECT_RADIUS


def _line(side: CutSide, frame: int) -> ActionAxis | None:
    scene = side.setup.scene
    if scene.blend is None or scene.blend.action_line is None:
        return scene.action_axis
    report = side.report_at(frame)
    if report is None:
        return None
    a, b = (report.objects.get(name) for name in scene.blend.action_line)
    if a is None or b is None or math.hypot(a[0] - b[0], a[2] - b[2]) < 1e-9:
        return None  # not reported, or no line: both ends stand on one spot
    try:
        return ActionAxis(a=(a[0], 0.0, a[2]), b=(b[0], 0.0, b[2]))
    except ValidationError:
        return None  # reported beyond the spec's bounds on coordinates
