"""Staging from the specs: the 180-degree rule, the 30-degree rule and screen direction."""

from __future__ import annotations

import math

import pytest

from pipelines.continuity import geometry as geo
from pipelines.continuity.check import check_cut
from pipelines.continuity.findings import Requeue, Review, Severity
from pipelines.continuity.rules import RULES
from pipelines.spec.scene import ActionAxis
from tests.pipelines.continuity.synthetic import camera, cut_of, two_shots

AXIS_X = {"a": [-6.0, 0.0, 0.0], "b": [6.0, 0.0, 0.0]}  # through the orb at (0, 1, 0)
ORB = (0.0, 1.0, 0.0)


def at(azimuth: float, distance: float = 6.0, height: float = 1.2, fov: float = 35.0, frame: int = 0) -> dict:
    """A camera on a circle around the orb looking at it; azimuth 0 is +Z, 90 is +X (on the line)."""
    a = math.radians(azimuth)
    return camera((distance * math.sin(a), height, distance * math.cos(a)), ORB, fov, frame)


def staged(left_keys: list[dict], right_keys: list[dict], axis=AXIS_X, motion=None, **right):
    scene = {"action_axis": axis}
    if motion is not None:
        scene["objects"] = [
            {"type": "plane", "name": "ground", "material": "grey"},
            {"type": "sphere", "name": "orb", "center": [0, 1, 0], "radius": 1, "material": "lamp", "motion": motion},
        ]
    seq = two_shots(left={"camera": {"keys": left_keys}}, right={"camera": {"keys": right_keys}} | right, scene=scene)
    return cut_of(seq, None, None)


def patched(cut, fix: Requeue):
    return cut.with_right(cut.right.patched(fix.patch))


def problems(cut) -> list[str]:
    """Rules that fire, leaving out the missing frames (these cuts are judged on their specs)."""
    return [f.rule for f in check_cut(cut) if f.rule != "frames"]


def judged(rule: str, cut):
    m = RULES[rule].measure(cut)
    return None if m is None else RULES[rule].judge(m)


# -- 180 degrees ---------------------------------------------------------------


@pytest.mark.parametrize(("left", "right", "severity"), [(-40, 40, None), (-40, 140, Severity.ERROR), (30, -150, Severity.ERROR)])
def test_a_camera_on_the_other_side_of_the_line_crosses_it(left, right, severity):
    assert judged("axis_180", staged([at(left)], [at(right)])) == severity


def test_a_camera_on_the_line_is_neutral_and_may_be_cut_to():
    cut = staged([at(-40)], [at(92)])  # 2 degrees past the line
    m = RULES["axis_180"].measure(cut)
    assert m["left_side"] * m["right_side"] < 0 and m["right_off_line"] < 5
    assert RULES["axis_180"].judge(m) is None


def test_without_a_line_of_action_or_in_another_location_there_is_nothing_to_cross():
    assert RULES["axis_180"].measure(staged([at(-40)], [at(140)], axis=None)) is None
    other = staged([at(-40)], [at(140)], continuity={"location": "cave", "time_of_day": "noon"})
    assert RULES["axis_180"].measure(other) is None


def test_the_explanation_says_who_crosses_whose_line_and_how_far():
    (f,) = [f for f in check_cut(staged([at(-40)], [at(140)])) if f.rule == "axis_180"]
    assert f.explanation.startswith("sh020's camera crosses the line set by sh010")
    assert "sh010's camera is 4.60 m on one side" in f.explanation and "sh020's is 4.60 m on the other" in f.explanation


def test_the_fix_mirrors_the_whole_camera_move_across_the_line():
    keys = [at(140, frame=0), at(160, distance=5.0, height=2.0, fov=30.0, frame=23)]
    cut = staged([at(-40)], keys)
    fix = RULES["axis_180"].fix(cut, RULES["axis_180"].measure(cut))
    assert isinstance(fix, Requeue) and fix.shot == "sh020"
    new = patched(cut, fix).right.shot.camera.keys
    for old, mirrored in zip(cut.right.shot.camera.keys, new):
        assert mirrored.position == pytest.approx((old.position[0], old.position[1], -old.position[2]))
        assert mirrored.look_at == pytest.approx((old.look_at[0], old.look_at[1], -old.look_at[2]))
        assert (mirrored.frame, mirrored.fov) == (old.frame, old.fov)
    assert judged("axis_180", patched(cut, fix)) is None


def test_mirroring_across_a_diagonal_line_keeps_distances_and_undoes_itself():
    axis = ActionAxis(a=(1.0, 0.0, -2.0), b=(4.0, 0.0, 2.0))
    p = (3.0, 1.5, -1.0)
    m = geo.mirror(axis, p)
    assert geo.axis_side(axis, m) == pytest.approx(-geo.axis_side(axis, p))
    assert geo.mirror(axis, m) == pytest.approx(p)
    assert math.dist(m, axis.a) == pytest.approx(math.dist(p, axis.a))


# -- 30 degrees ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("right", "severity"),
    [(at(-30), Severity.ERROR), (at(-17), Severity.WARN), (at(10), None), (at(-20, distance=12.0), None), (at(-20, fov=20.0), None)],
    ids=["10deg", "23deg", "50deg", "half-size", "1.75x-tighter"],
)
def test_a_cut_needs_30_degrees_or_a_change_of_size_of_1_5x(right, severity):
    assert judged("jump_cut_30", staged([at(-40)], [right])) == severity


def test_the_explanation_gives_the_angle_and_the_size_ratio():
    (f,) = [f for f in check_cut(staged([at(-40)], [at(-30)])) if f.rule == "jump_cut_30"]
    assert "sh020's camera sees the subject from only 10.0 degrees away from sh010's" in f.explanation
    assert "1.00x" in f.explanation


@pytest.mark.parametrize("right_azimuth", [-30, -50, 60, 75])
def test_the_fix_swings_the_camera_around_the_subject_past_30_degrees_at_the_same_distance(right_azimuth):
    left_azimuth = right_azimuth + 12 if right_azimuth < 0 else right_azimuth - 12
    cut = staged([at(left_azimuth)], [at(right_azimuth)])
    fix = RULES["jump_cut_30"].fix(cut, RULES["jump_cut_30"].measure(cut))
    assert isinstance(fix, Requeue)
    after = patched(cut, fix)
    m = RULES["jump_cut_30"].measure(after)
    assert 30 <= m["angle"] <= 36
    key, before = after.right.shot.camera.keys[0], cut.right.shot.camera.keys[0]
    assert math.dist(key.position, ORB) == pytest.approx(math.dist(before.position, ORB), abs=1e-9)
    assert key.look_at == pytest.approx(ORB)
    assert judged("axis_180", after) is None  # swung away from the line, not across it


def test_the_swing_picks_the_direction_that_stays_on_the_left_shots_side():
    cut = staged([at(70)], [at(80)])  # near the line: swinging towards +X would cross it
    fix = RULES["jump_cut_30"].fix(cut, RULES["jump_cut_30"].measure(cut))
    key = patched(cut, fix).right.shot.camera.keys[0]
    assert key.position[2] > 0 and geo.axis_side(ActionAxis(**AXIS_X), key.position) > 0


def test_no_subject_or_a_subject_behind_the_camera_means_no_jump_cut():
    behind = camera((0.0, 1.2, -6.0), (0.0, 1.0, -12.0))
    assert RULES["jump_cut_30"].measure(staged([at(0)], [behind])) is None
    seq = two_shots(scene={"subject": None})
    assert RULES["jump_cut_30"].measure(cut_of(seq, None, None)) is None


# -- screen direction ----------------------------------------------------------

ROLL = [{"frame": 0, "offset": [-1.0, 0, 0]}, {"frame": 23, "offset": [1.0, 0, 0]}]  # along +X


def test_a_subject_moving_the_same_way_on_screen_is_fine():
    cut = staged([at(-40)], [at(30)], motion=ROLL)
    m = RULES["screen_direction"].measure(cut)
    assert m["left_speed"] > 0 and m["right_speed"] > 0
    assert RULES["screen_direction"].judge(m) is None


def test_a_flip_of_screen_direction_is_a_warning_for_a_person():
    cut = staged([at(-40)], [at(150)], axis=None, motion=ROLL)
    (f,) = [f for f in check_cut(cut) if f.rule == "screen_direction"]
    assert f.severity == Severity.WARN and isinstance(f.fix, Review)
    assert "moves right in sh010" in f.explanation and "left in sh020" in f.explanation
    assert f"{abs(f.measured['left_speed']) * 100:.1f}% of the frame width" in f.explanation


def test_a_slow_drift_has_no_direction_to_keep():
    crawl = [{"frame": 0, "offset": [-0.01, 0, 0]}, {"frame": 23, "offset": [0.01, 0, 0]}]
    cut = staged([at(-40)], [at(150)], axis=None, motion=crawl)
    assert RULES["screen_direction"].judge(RULES["screen_direction"].measure(cut)) is None


def test_the_subject_is_projected_through_the_renderers_camera():
    key = staged([at(0)], [at(0)]).left.setup.camera.keys[0]
    assert geo.project(key, ORB, 16 / 9) == pytest.approx((0.0, 0.0), abs=1e-9)
    x, _ = geo.project(key, (1.0, 1.0, 0.0), 16 / 9)  # +X is screen right for a camera on +Z
    assert x > 0
    assert geo.project(key, (0.0, 1.0, 12.0), 16 / 9) is None  # behind the camera


# -- fixes that meet on one camera --------------------------------------------


def test_crossing_the_line_also_flips_screen_direction_and_one_re_render_fixes_both():
    cut = staged([at(-40)], [at(150)], motion=ROLL)
    found = {f.rule: f for f in check_cut(cut)}
    assert found["axis_180"].severity == Severity.ERROR and isinstance(found["axis_180"].fix, Requeue)
    assert found["screen_direction"].fix is None
    assert "resolves this too" in found["screen_direction"].explanation
    after = patched(cut, found["axis_180"].fix)
    assert problems(after) == []


def test_a_camera_across_the_line_and_too_close_in_angle_gets_one_patch_that_clears_both():
    cut = staged([at(80)], [at(110)])  # mirrors onto 70 degrees: a jump cut from 80
    found = {f.rule: f for f in check_cut(cut)}
    requeues = [f.fix for f in found.values() if isinstance(f.fix, Requeue)]
    assert len(requeues) == 1
    after = patched(cut, requeues[0])
    assert judged("axis_180", after) is None and judged("jump_cut_30", after) is None
