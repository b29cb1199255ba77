"""Staging continuity from the shot specs: the 180-degree rule, the 30-degree rule, screen direction.

These are the script supervisor's rules, computed exactly from the cameras and
the subject at the boundary frames (notes, section 4: metadata beats pixels
for staging). They apply only when both shots stage the same scene in the same
setting, because the line of action and the subject belong to a scene.

Fixes move the right shot's camera and re-render it: the whole camera move is
transformed rigidly (mirrored across the line, or swung around the subject),
so the shot keeps its framing and its move.

This module must never look at pixels.
"""

from __future__ import annotations

import math

from pipelines.continuity import geometry as geo
from pipelines.continuity.cut import Cut, CutSide
from pipelines.continuity.findings import Requeue, Review, Severity
from pipelines.continuity.rules.base import at_cut
from pipelines.spec.scene import ActionAxis, Vec3

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


def _subject_at(side: CutSide, frame: int | None = None) -> Vec3 | None:
    obj = geo.subject_of(side.setup.scene)
    return None if obj is None else geo.subject_centre(obj, side.relative(frame))


def _pivot(side: CutSide, axis: ActionAxis) -> Vec3:
    """Where 'seen from' is for the line: the subject, or the middle of the line without one."""
    s = _subject_at(side)
    return s if s is not None else tuple((a + b) / 2 for a, b in zip(axis.a, axis.b))  # type: ignore[return-value]


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
        axis = cut.left.setup.scene.action_axis
        if not cut.same_set or axis is None:
            return None
        out: dict[str, float] = {}
        for which, side in (("left", cut.left), ("right", cut.right)):
            cam = side.setup.camera.at(side.relative()).position
            out[f"{which}_side"] = geo.axis_side(axis, cam)
            out[f"{which}_off_line"] = off_line_degrees(axis, cam, _pivot(side, axis))
        return out

    def judge(self, measured: dict[str, float]) -> Severity | None:
        crossed = measured["left_side"] * measured["right_side"] < 0
        off = min(measured["left_off_line"], measured["right_off_line"]) >= ON_LINE_DEGREES
        return Severity.ERROR if crossed and off else None

    def fix(self, cut: Cut, measured: dict[str, float]) -> Requeue:
        axis = cut.right.setup.scene.action_axis
        assert axis is not None  # measure returned numbers, so there is a line
        keys = geo.moved_keys(cut.right.setup.camera, lambda p: geo.mirror(axis, p))
        return Requeue(shot=cut.right.shot.name, patch={"camera": {"keys": keys}})

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
        obj = geo.subject_of(cut.left.setup.scene)
        if not cut.same_set or obj is None:
            return None
        poses, sizes = [], []
        for side in (cut.left, cut.right):
            key, centre = side.setup.camera.at(side.relative()), _subject_at(side)
            if centre is None or geo.project(key, centre, _aspect(side)) is None:
                return None  # the subject is behind a camera: nothing to jump
            poses.append((key.position, centre))
            sizes.append(geo.shot_size(key, centre, geo.subject_radius(obj)))
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
        yaw = _swing(cut)
        right = cut.right.shot.name
        if yaw is None:
            return Review(
                reason=f"No swing of {right}'s camera around the subject reaches {JUMP_TARGET_DEGREES:.0f} "
                f"degrees from {cut.left.shot.name} without crossing the line; change the shot size instead."
            )
        centre = _subject_at(cut.right)
        assert centre is not None
        keys = geo.moved_keys(cut.right.setup.camera, lambda p: geo.yaw_about(p, centre, yaw))
        return Requeue(shot=right, patch={"camera": {"keys": keys}})

    def explain(self, cut: Cut, measured: dict[str, float]) -> str:
        left, right = cut.left.shot.name, cut.right.shot.name
        return (
            f"The cut from {at_cut(cut)} is a jump cut: {right}'s camera sees the subject from only "
            f"{measured['angle']:.1f} degrees away from {left}'s (the rule asks for {JUMP_DEGREES:.0f}) at "
            f"nearly the same size ({measured['size_ratio']:.2f}x, within 1/{SIZE_RATIO:g}-{SIZE_RATIO:g}x). "
            f"Swinging {right}'s camera around the subject to {JUMP_TARGET_DEGREES:.0f} degrees, at the same "
            f"distance, makes it a new angle."
        )


def _aspect(side: CutSide) -> float:
    w, h = side.setup.resolution
    return w / h


def _swing(cut: Cut) -> float | None:
    """The smallest yaw (degrees) of the right camera around the subject that clears the rule."""
    left, right = cut.left, cut.right
    cl = left.setup.camera.at(left.relative()).position
    sl, sr = _subject_at(left), _subject_at(right)
    cr = right.setup.camera.at(right.relative()).position
    axis = right.setup.scene.action_axis
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
        if not cut.same_set or geo.subject_of(cut.left.setup.scene) is None:
            return None
        # Velocity over the last frame of the left shot and the first of the right.
        left = _screen_speed(cut.left, cut.left.frame - 1, cut.left.frame)
        right = _screen_speed(cut.right, cut.right.frame, cut.right.frame + 1)
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


def _screen_speed(side: CutSide, first: int, second: int) -> float | None:
    """Horizontal screen velocity of the subject between two timeline frames, in frame widths."""
    xs = []
    for frame in (first, second):
        centre = _subject_at(side, frame)
        key = side.setup.camera.at(side.relative(frame))
        p = None if centre is None else geo.project(key, centre, _aspect(side))
        if p is None:
            return None
        xs.append(p[0])
    return (xs[1] - xs[0]) / 2  # screen x spans 2 units across the frame
