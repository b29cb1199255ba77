"""Staging continuity: the 180-degree rule, the 30-degree rule, screen direction.

These are the script supervisor's rules, computed exactly from the cameras and
the subject at the boundary frames (notes, section 4: metadata beats pixels
for staging): from the spec for spec shots, from what the engine reported
with the frames for shots rendered from a studio's own file
(pipelines.continuity.staging). They apply only when both shots stage the same
scene in the same setting, because the line of action and the subject belong
to a scene. A reported frame without a camera (or without the subject, or the
line) is not judged: the rule returns None rather than guess.

Fixes move the right shot's camera and re-render it: the whole camera move is
transformed rigidly (mirrored across the line, or swung around the subject),
so the shot keeps its framing and its move. A spec shot gets new camera keys;
a .blend shot gets a `blender.camera_move` override, composed with the one it
may already carry; a command-line shot's camera cannot be moved by the farm,
so its fix is a Review that says where to move it.

This module must never look at pixels.
"""

from __future__ import annotations

import math

from pipelines.continuity import geometry as geo
from pipelines.continuity import moves
from pipelines.continuity.cut import Cut, CutSide
from pipelines.continuity.findings import Requeue, Review, Severity
from pipelines.continuity.rules.base import at_cut
from pipelines.continuity.staging import Staging, motion_frames, staging
from pipelines.spec.base import ActionAxis, Vec3
from pipelines.spec.sources import CameraMove, Yaw

# A camera this close to the line (angle between the line and the camera, seen
# from the subject) is a neutral shot: cutting to or from it crosses nothing.
ON_LINE_DEGREES = 5.0
# The 30-degree rule: a cut to the same subject needs at least 30 degrees of
# camera move, or a change of shot size of 1.5x, or it reads as a jump. Under
# 15 degrees the picture just twitches.
JUMP_DEGREES = 30.0
JUMP_ERROR_DEGREES = 15.0
SIZE_RATIO = 1.5
# The swing that fixes a jump cut aims this far past the rule, so the fix does
# not sit on the threshold.
JUMP_TARGET_DEGREES = JUMP_DEGREES + 5.0
# Screen speed below which there is no direction to keep, in frame widths per
# frame: 0.004 crosses a tenth of the frame in a second at 24 fps.
MIN_SCREEN_SPEED = 0.004


def _pivot(st: Staging, axis: ActionAxis) -> Vec3:
    """Where 'seen from' is for the line: the subject, or the middle of the line without one."""
    s = st.subject
    return s if s is not None else tuple((a + b) / 2 for a, b in zip(axis.a, axis.b))  # type: ignore[return-value]


def _both(cut: Cut) -> tuple[Staging, Staging] | None:
    """Both sides staged at the cut, when they share a set and both cameras are known."""
    if not cut.same_set:
        return None
    left, right = staging(cut.left), staging(cut.right)
    return None if left is None or right is None else (left, right)


def off_line_degrees(axis: ActionAxis, camera: Vec3, pivot: Vec3) -> float:
    """Angle on the ground between the line and the pivot-to-camera direction, 0..90."""
    d = abs(geo.axis_side(axis, camera))
    ground = math.hypot(camera[0] - pivot[0], camera[2] - pivot[2])
    if ground == 0:
        return 0.0 if d == 0 else 90.0
    return math.degrees(math.asin(min(1.0, d / ground)))


class Axis180:
    name = "axis_180"
    threshold = ON_LINE_DEGREES
    uses_pixels = False

    def measure(self, cut: Cut) -> dict[str, float] | None:
        both = _both(cut)
        axis = None if both is None else both[0].line  # the line the audience saw, from the left shot
        if both is None or axis is None:
            return None
        out: dict[str, float] = {}
        for which, st in zip(("left", "right"), both):
            cam = st.camera.position
            out[f"{which}_side"] = geo.axis_side(axis, cam)
            out[f"{which}_off_line"] = off_line_degrees(axis, cam, _pivot(st, axis))
        return out

    def judge(self, measured: dict[str, float]) -> Severity | None:
        crossed = measured["left_side"] * measured["right_side"] < 0
        off = min(measured["left_off_line"], measured["right_off_line"]) >= ON_LINE_DEGREES
        return Severity.ERROR if crossed and off else None

    def fix(self, cut: Cut, measured: dict[str, float]) -> Requeue | Review:
        left = staging(cut.left)
        axis = None if left is None else left.line
        assert axis is not None  # measure returned numbers, so there is a line
        camera = cut.right.setup.camera
        if camera is not None:
            keys = geo.moved_keys(camera, lambda p: geo.mirror(axis, p))
            return Requeue(shot=cut.right.shot.name, patch={"camera": {"keys": keys}})
        line = f"the line of action from ({axis.a[0]:.2f}, {axis.a[2]:.2f}) to ({axis.b[0]:.2f}, {axis.b[2]:.2f}) on the ground"
        return _moved(cut.right, CameraMove(mirror=axis), f"mirror its camera across {line}")

    def explain(self, cut: Cut, measured: dict[str, float]) -> str:
        left, right = cut.left.shot.name, cut.right.shot.name
        return (
            f"{right}'s camera crosses the line set by {left}: at the cut from {at_cut(cut)} "
            f"{left}'s camera is {abs(measured['left_side']):.2f} m on one side of the line of action "
            f"and {right}'s is {abs(measured['right_side']):.2f} m on the other "
            f"({measured['left_off_line']:.0f} and {measured['right_off_line']:.0f} degrees off the line), "
            f"so left and right swap on screen. Mirroring {right}'s camera move across the line keeps "
            f"the audience on {left}'s side."
        )


class JumpCut30:
    name = "jump_cut_30"
    threshold = JUMP_DEGREES
    uses_pixels = False

    def measure(self, cut: Cut) -> dict[str, float] | None:
        both = _both(cut)
        if both is None:
            return None
        poses, sizes = [], []
        for st in both:
            centre = st.subject
            if centre is None or geo.project(st.camera, centre, st.aspect) is None:
                return None  # no subject, or it is behind a camera: nothing to jump
            poses.append((st.camera.position, centre))
            sizes.append(geo.shot_size(st.camera, centre, st.radius))
        (cl, sl), (cr, sr) = poses
        return {
            "angle": geo.ray_angle(cl, sl, cr, sr),
            "size_ratio": sizes[1] / sizes[0],
            "left_size": sizes[0],
            "right_size": sizes[1],
        }

    def judge(self, measured: dict[str, float]) -> Severity | None:
        if not 1 / SIZE_RATIO < measured["size_ratio"] < SIZE_RATIO:
            return None
        if measured["angle"] < JUMP_ERROR_DEGREES:
            return Severity.ERROR
        return Severity.WARN if measured["angle"] < JUMP_DEGREES else None

    def fix(self, cut: Cut, measured: dict[str, float]) -> Requeue | Review:
        both = _both(cut)
        assert both is not None  # measure returned numbers, so both sides are staged
        yaw = _swing(*both)
        right = cut.right.shot.name
        if yaw is None:
            return Review(
                reason=f"No swing of {right}'s camera around the subject reaches {JUMP_TARGET_DEGREES:.0f} "
                f"degrees from {cut.left.shot.name} without crossing the line; change the shot size instead."
            )
        centre = both[1].subject
        assert centre is not None
        camera = cut.right.setup.camera
        if camera is not None:
            keys = geo.moved_keys(camera, lambda p: geo.yaw_about(p, centre, yaw))
            return Requeue(shot=right, patch={"camera": {"keys": keys}})
        where = f"{yaw:+.0f} degrees (counter-clockwise seen from above) about the subject at ({centre[0]:.2f}, {centre[2]:.2f})"
        return _moved(cut.right, CameraMove(yaw=Yaw(centre=centre, degrees=yaw)), f"swing its camera {where}")

    def explain(self, cut: Cut, measured: dict[str, float]) -> str:
        left, right = cut.left.shot.name, cut.right.shot.name
        return (
            f"The cut from {at_cut(cut)} is a jump cut: {right}'s camera sees the subject from only "
            f"{measured['angle']:.1f} degrees away from {left}'s (the rule asks for {JUMP_DEGREES:.0f}) at "
            f"nearly the same size ({measured['size_ratio']:.2f}x, within 1/{SIZE_RATIO:g}-{SIZE_RATIO:g}x). "
            f"Swinging {right}'s camera around the subject to {JUMP_TARGET_DEGREES:.0f} degrees, at the same "
            f"distance, makes it a new angle."
        )


def _swing(left: Staging, right: Staging) -> float | None:
    """The smallest yaw (degrees) of the right camera around the subject that clears the rule."""
    cl, sl = left.camera.position, left.subject
    cr, sr = right.camera.position, right.subject
    axis = left.line
    assert sl is not None and sr is not None
    for step in range(1, 181):
        for yaw in (float(step), -float(step)):
            moved = geo.yaw_about(cr, sr, yaw)
            if geo.ray_angle(cl, sl, moved, sr) < JUMP_TARGET_DEGREES:
                continue
            if axis is not None:
                same = geo.axis_side(axis, cl) * geo.axis_side(axis, moved) > 0
                if not same or off_line_degrees(axis, moved, sr) < ON_LINE_DEGREES:
                    continue
            return yaw
    return None


class ScreenDirection:
    name = "screen_direction"
    threshold = MIN_SCREEN_SPEED
    uses_pixels = False

    def measure(self, cut: Cut) -> dict[str, float] | None:
        if not cut.same_set:
            return None
        # Velocity over the last frame of the left shot and the first of the right (for a reported
        # shot, between its boundary frame and the neighbour the check node read).
        left = _screen_speed(motion_frames(cut.left, -1))
        right = _screen_speed(motion_frames(cut.right, +1))
        if left is None or right is None:
            return None
        return {"left_speed": left, "right_speed": right}

    def judge(self, measured: dict[str, float]) -> Severity | None:
        a, b = measured["left_speed"], measured["right_speed"]
        moving = min(abs(a), abs(b)) >= MIN_SCREEN_SPEED
        return Severity.WARN if moving and a * b < 0 else None

    def fix(self, cut: Cut, measured: dict[str, float]) -> Review:
        return Review(
            reason=f"Decide whether {cut.right.shot.name} should show the subject moving the other way: "
            f"if not, restage its camera on {cut.left.shot.name}'s side of the motion or cut through a "
            f"neutral shot."
        )

    def explain(self, cut: Cut, measured: dict[str, float]) -> str:
        a, b = measured["left_speed"], measured["right_speed"]
        w = cut.left.setup.resolution[0]

        def way(v: float) -> str:
            return "right" if v > 0 else "left"

        return (
            f"The subject changes screen direction at the cut from {at_cut(cut)}: it moves {way(a)} in "
            f"{cut.left.shot.name} ({abs(a) * 100:.1f}% of the frame width a frame, about {abs(a) * w:.0f} px) "
            f"and {way(b)} in {cut.right.shot.name} ({abs(b) * 100:.1f}%). Above "
            f"{MIN_SCREEN_SPEED * 100:.1f}% a frame the audience reads it as the subject turning back."
        )


def _screen_speed(frames: tuple[Staging, Staging] | None) -> float | None:
    """Horizontal screen velocity of the subject between two staged frames, in frame widths a frame."""
    if frames is None:
        return None
    xs = []
    for st in frames:
        p = None if st.subject is None else geo.project(st.camera, st.subject, st.aspect)
        if p is None:
            return None
        xs.append(p[0])
    # Screen x spans 2 units across the frame.
    return (xs[1] - xs[0]) / 2 / (frames[1].frame - frames[0].frame)


def _moved(side: CutSide, move: CameraMove, what: str) -> Requeue | Review:
    """Re-render a .blend shot with `move` applied on top of its camera as rendered; others go to a person."""
    shot = side.shot
    if side.setup.scene.blend is None or shot.blender is None:
        return Review(
            reason=f"{shot.name} is rendered by the {side.setup.engine} engine from its own scene, with no camera "
            f"in its spec and no camera override, so the farm cannot move its camera: {what} in the scene and "
            f"render the shot again."
        )
    current = shot.blender.camera_move
    if current is None:
        return Requeue(shot=shot.name, patch={"blender": {"camera_move": move.model_dump(mode="json", exclude_none=True)}})
    try:
        total = moves.as_camera_move(moves.of(current).then(moves.of(move)))
    except moves.NotOneMove as e:
        return Review(
            reason=f"{shot.name} already carries a camera_move, and this one on top of it is no single mirror "
            f"or swing ({e}): {what} in the .blend, or clear its camera_move and check the cut again."
        )
    # A merge patch keeps the keys it does not name: clear the other kind of move, or the shot would
    # carry a mirror and a yaw at once; moves that cancel drop the override.
    patch = None if total is None else {"mirror": None, "yaw": None} | total.model_dump(mode="json", exclude_none=True)
    return Requeue(shot=shot.name, patch={"blender": {"camera_move": patch}})
