"""Camera moves on the ground: a .blend shot's camera_move as the continuity pass composes and undoes it."""

from __future__ import annotations

import math

import pytest

from pipelines.continuity import geometry as geo
from pipelines.continuity import moves
from pipelines.render.engines.base import CameraPose
from pipelines.spec.base import ActionAxis
from pipelines.spec.sources import CameraMove, Yaw

LINE = ActionAxis(a=(-5.0, 0.0, 1.0), b=(5.0, 0.0, 3.0))
POINTS = [(0.0, 1.2, 6.0), (3.5, 0.4, -2.0), (-7.0, 2.0, 0.5)]


@pytest.mark.parametrize("p", POINTS)
def test_a_mirror_and_a_yaw_move_points_as_the_staging_geometry_does(p):
    assert moves.mirror(LINE).point(p) == pytest.approx(geo.mirror(LINE, p))
    assert moves.yaw((1.0, 0.0, -2.0), 37.0).point(p) == pytest.approx(geo.yaw_about(p, (1.0, 0.0, -2.0), 37.0))


@pytest.mark.parametrize(
    "move",
    [CameraMove(mirror=LINE), CameraMove(yaw=Yaw(centre=(1.0, 0.0, -2.0), degrees=37.0)), CameraMove(yaw=Yaw(centre=(0, 0, 0), degrees=-170.0))],
)
def test_a_camera_move_reads_back_as_a_move_that_does_the_same(move):
    again = moves.as_camera_move(moves.of(move))
    assert again is not None
    for p in POINTS:
        assert moves.of(again).point(p) == pytest.approx(moves.of(move).point(p))


@pytest.mark.parametrize("move", [CameraMove(mirror=LINE), CameraMove(yaw=Yaw(centre=(1.0, 0.0, -2.0), degrees=37.0))])
def test_a_move_then_its_inverse_is_no_move(move):
    g = moves.of(move)
    assert g.then(g.inverse()).is_identity and g.inverse().then(g).is_identity
    assert moves.as_camera_move(g.then(g.inverse())) is None


def test_two_swings_about_different_centres_are_one_swing_by_their_sum():
    first, second = moves.yaw((1.0, 0.0, 0.0), 20.0), moves.yaw((-2.0, 0.0, 3.0), 25.0)
    one = moves.as_camera_move(first.then(second))
    assert one is not None and one.yaw is not None and one.yaw.degrees == pytest.approx(45.0)
    for p in POINTS:
        assert moves.of(one).point(p) == pytest.approx(second.point(first.point(p)))


def test_mirrors_across_two_crossing_lines_are_a_swing_about_where_they_cross_by_twice_their_angle():
    along_x = ActionAxis(a=(-1.0, 0.0, 0.0), b=(1.0, 0.0, 0.0))
    at_30 = ActionAxis(a=(0.0, 0.0, 0.0), b=(math.cos(math.radians(30)), 0.0, -math.sin(math.radians(30))))
    one = moves.as_camera_move(moves.mirror(along_x).then(moves.mirror(at_30)))
    assert one is not None and one.yaw is not None
    assert abs(one.yaw.degrees) == pytest.approx(60.0)
    assert one.yaw.centre == pytest.approx((0.0, 0.0, 0.0), abs=1e-9)


def test_a_swing_about_a_point_of_a_mirror_line_is_a_mirror_across_a_turned_line():
    centre = (0.0, 0.0, 2.0)  # on LINE
    one = moves.as_camera_move(moves.mirror(LINE).then(moves.yaw(centre, 40.0)))
    assert one is not None and one.mirror is not None
    for p in POINTS:
        assert moves.of(one).point(p) == pytest.approx(moves.yaw(centre, 40.0).point(geo.mirror(LINE, p)))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (moves.mirror(LINE), moves.mirror(ActionAxis(a=(-5.0, 0.0, 4.0), b=(5.0, 0.0, 6.0)))),  # parallel: a slide
        (moves.mirror(LINE), moves.yaw((0.0, 0.0, -4.0), 40.0)),  # centre off the line: a glide
    ],
    ids=["two-parallel-mirrors", "mirror-then-swing-off-the-line"],
)
def test_moves_that_add_up_to_a_slide_are_no_single_camera_move(first, second):
    with pytest.raises(moves.NotOneMove):
        moves.as_camera_move(first.then(second))


def test_a_reposed_camera_keeps_its_lens_looks_where_the_moved_aim_is_and_stays_upright():
    pose = CameraPose.looking((2.0, 1.5, 6.0), (0.0, 1.0, 0.0), 35.0, focal_mm=50.0, sensor_mm=(36.0, 24.0))
    moved = moves.repose(pose, moves.mirror(LINE))
    assert moved.position == pytest.approx(geo.mirror(LINE, pose.position))
    aim = geo.mirror(LINE, tuple(p + f for p, f in zip(pose.position, pose.forward)))
    assert tuple(p + f for p, f in zip(moved.position, moved.forward)) == pytest.approx(aim)
    assert moved.up[1] > 0 and (moved.fov, moved.focal_mm, moved.sensor_mm) == (35.0, 50.0, (36.0, 24.0))
