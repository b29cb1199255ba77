"""Staging of shots rendered from a studio's own file, judged from the camera and objects the engine reported."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from pipelines.color.cdl import CDL
from pipelines.continuity import geometry as geo
from pipelines.continuity.check import check_cut
from pipelines.continuity.cut import Cut
from pipelines.continuity.findings import Grade, Requeue, Review, Severity, apply_patch
from pipelines.continuity.rules import RULES
from pipelines.continuity.rules.staging import JUMP_DEGREES
from pipelines.continuity.staging import SUBJECT_RADIUS, staging
from pipelines.render.engines.base import CameraPose
from pipelines.render.reported import Reported
from pipelines.spec.loading import parse_sequence
from pipelines.spec.sequence import Sequence
from tests.pipelines.continuity.reported_sets import BLEND, HERO, LINE, around, blend_sequence, report
from tests.pipelines.continuity.synthetic import TAGS, frame, mirrored

STAGING = ("axis_180", "jump_cut_30", "screen_direction")


def reported_cut(left: Reported | None, right: Reported | None, seq: Sequence | None = None, pixels=(None, None), **kw) -> Cut:
    return Cut.between(seq or blend_sequence(), "sh010", "sh020", *pixels, reported=(left, right), **kw)


def judged(rule: str, cut: Cut) -> Severity | None:
    measured = RULES[rule].measure(cut)
    return None if measured is None else RULES[rule].judge(measured)


def patched(cut: Cut, fix: Requeue) -> Cut:
    return cut.with_right(cut.right.patched(fix.patch))


def staging_findings(cut: Cut) -> list:
    return [f for f in check_cut(cut) if f.rule in STAGING]


# -- the 180-degree rule --------------------------------------------------------


def test_a_blend_shot_crossing_the_line_is_found_from_the_reported_cameras_and_marks():
    cut = reported_cut(report(around(-30)), report(around(160)))
    (f,) = [f for f in check_cut(cut) if f.rule == "axis_180"]
    assert f.severity is Severity.ERROR
    assert f.measured["left_side"] * f.measured["right_side"] < 0
    assert "sh020's camera crosses the line set by sh010" in f.explanation


def test_the_crossing_fix_mirrors_the_blend_camera_across_the_reported_line_on_the_ground():
    cut = reported_cut(report(around(-30)), report(around(160)))
    fix = RULES["axis_180"].fix(cut, RULES["axis_180"].measure(cut))
    assert isinstance(fix, Requeue) and fix.shot == "sh020"
    assert fix.patch == {"blender": {"camera_move": {"mirror": {"a": [-5.0, 0.0, 0.0], "b": [5.0, 0.0, 0.0]}}}}


def test_the_mirrored_camera_no_longer_crosses_the_line():
    right = around(160)
    cut = reported_cut(report(around(-30)), report(right))
    fixed = patched(cut, RULES["axis_180"].fix(cut, RULES["axis_180"].measure(cut)))
    expected = geo.mirror(LINE, right.position)
    assert geo.axis_side(LINE, expected) * geo.axis_side(LINE, around(-30).position) > 0
    after = staging(fixed.right)
    assert after is not None and after.camera.position == pytest.approx(expected)
    # It still looks at the hero: the aim is mirrored with the position.
    assert geo.project(after.camera, HERO, 16 / 9) == pytest.approx((0.0, 0.0), abs=1e-9)
    assert judged("axis_180", fixed) is None


def test_a_patched_blend_shot_validates_and_keeps_its_camera_object_and_offset():
    cut = reported_cut(report(around(-30)), report(around(160)))
    fix = RULES["axis_180"].fix(cut, RULES["axis_180"].measure(cut))
    shot = apply_patch(cut.right.shot, fix.patch)
    assert shot.camera is None and shot.blender is not None
    assert shot.blender.camera == "CamB" and shot.blender.camera_move is not None
    assert shot.blender.camera_move.mirror == LINE and shot.blender.camera_move.yaw is None


@pytest.mark.parametrize(("left", "right"), [(-30, 40), (20, 70), (-60, -5), (200, 150)])
def test_no_staging_finding_when_both_reported_cameras_are_on_one_side(left, right):
    cut = reported_cut(report(around(left)), report(around(right)))
    assert judged("axis_180", cut) is None
    assert staging_findings(cut) == []


def test_the_line_moves_with_its_reported_marks():
    # The same two cameras, but the marks stand along Z on the left frame: now both cameras are on one side.
    along_z = {"mark_a": (0.0, 0.0, -5.0), "mark_b": (0.0, 0.0, 5.0)}
    cut = reported_cut(report(around(-30), **along_z), report(around(-150), **along_z))
    assert RULES["axis_180"].measure(cut)["left_side"] * RULES["axis_180"].measure(cut)["right_side"] > 0


def test_a_command_line_shot_that_crosses_the_line_is_sent_to_review_with_where_to_move_it():
    command = {"file": "/sets/street.ma", "argv": ["render", "{scene}"], "subject": "hero"}
    scene = {"command": command, "action_axis": {"a": [-5, 0, 0], "b": [5, 0, 0]}}
    seq = parse_sequence(
        {
            "show": "demo",
            "sequence": "sq010",
            "resolution": [96, 54],
            "scenes": {"street": scene},
            "shots": [
                {"name": n, "scene": "street", "frames": {"first": f, "last": f + 23}, "continuity": dict(TAGS)}
                for n, f in (("sh010", 1001), ("sh020", 1025))
            ],
        }
    )
    cut = reported_cut(report(around(-30)), report(around(160)), seq)
    (f,) = [f for f in check_cut(cut) if f.rule == "axis_180"]
    assert isinstance(f.fix, Review)
    assert "rendered by the command engine" in f.fix.reason and "cannot move its camera" in f.fix.reason
    assert "mirror its camera across the line of action from (-5.00, 0.00) to (5.00, 0.00)" in f.fix.reason


# -- the 30-degree rule ---------------------------------------------------------


def test_a_jump_cut_between_blend_shots_is_found_and_its_swing_clears_thirty_degrees():
    cut = reported_cut(report(around(10)), report(around(18)))
    (f,) = [f for f in check_cut(cut) if f.rule == "jump_cut_30"]
    assert f.severity is Severity.ERROR and f.measured["angle"] == pytest.approx(8.0, abs=0.5)
    assert isinstance(f.fix, Requeue)
    yaw = f.fix.patch["blender"]["camera_move"]["yaw"]
    assert yaw["centre"] == list(HERO)
    moved = geo.yaw_about(around(18).position, HERO, yaw["degrees"])
    assert geo.ray_angle(around(10).position, HERO, moved, HERO) >= JUMP_DEGREES
    fixed = patched(cut, f.fix)
    assert staging(fixed.right).camera.position == pytest.approx(moved)
    assert judged("jump_cut_30", fixed) is None and judged("axis_180", fixed) is None


def test_a_reported_subject_is_sized_with_the_stated_radius_and_the_ratio_does_not_depend_on_it():
    cut = reported_cut(report(around(10)), report(around(18, distance=3.0)))
    m = RULES["jump_cut_30"].measure(cut)
    assert m["left_size"] == pytest.approx(geo.shot_size(staging(cut.left).camera, HERO, SUBJECT_RADIUS))
    assert m["size_ratio"] == pytest.approx(2.0, rel=0.02)
    assert judged("jump_cut_30", cut) is None  # twice the size: a new shot, not a jump


def test_a_swing_on_top_of_an_earlier_swing_about_the_subject_adds_up_to_one_yaw():
    seq = blend_sequence(right_blender={"camera_move": {"yaw": {"centre": [0, 0, 0], "degrees": 20}}})
    cut = reported_cut(report(around(10)), report(around(18)), seq)
    fix = RULES["jump_cut_30"].fix(cut, RULES["jump_cut_30"].measure(cut))
    assert isinstance(fix, Requeue)
    move = fix.patch["blender"]["camera_move"]
    assert move["mirror"] is None and move["yaw"]["centre"] == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)
    single = RULES["jump_cut_30"].fix(reported_cut(report(around(10)), report(around(18))), RULES["jump_cut_30"].measure(cut))
    assert move["yaw"]["degrees"] == pytest.approx(20 + single.patch["blender"]["camera_move"]["yaw"]["degrees"])
    assert apply_patch(cut.right.shot, fix.patch).blender.camera_move.mirror is None


def test_a_mirror_on_top_of_the_same_mirror_drops_the_camera_move():
    seq = blend_sequence(right_blender={"camera_move": {"mirror": {"a": [-5, 0, 0], "b": [5, 0, 0]}}})
    cut = reported_cut(report(around(-30)), report(around(160)), seq)
    fix = RULES["axis_180"].fix(cut, RULES["axis_180"].measure(cut))
    assert fix == Requeue(shot="sh020", patch={"blender": {"camera_move": None}})
    assert apply_patch(cut.right.shot, fix.patch).blender.camera_move is None


def test_a_swing_on_top_of_a_mirror_is_no_single_move_and_goes_to_review():
    seq = blend_sequence(right_blender={"camera_move": {"mirror": {"a": [-5, 0, 2], "b": [5, 0, 2]}}})
    cut = reported_cut(report(around(10)), report(around(18)), seq)
    fix = RULES["jump_cut_30"].fix(cut, RULES["jump_cut_30"].measure(cut))
    assert isinstance(fix, Review)
    assert "already carries a camera_move" in fix.reason and "swing its camera" in fix.reason


# -- screen direction -----------------------------------------------------------


def walking(x: float) -> tuple[float, float, float]:
    return (x, 1.0, 0.0)


def test_screen_direction_flips_when_the_reported_hero_walks_the_same_way_seen_from_both_sides():
    # No line named on this set, so only screen direction can speak.
    seq = blend_sequence(blend={"file": "/sets/street.blend", "subject": "hero"})
    front, back = around(0), around(180)  # locked-off cameras either side of the walk
    cut = reported_cut(
        report(front, hero=walking(0.0)), report(back, hero=walking(0.1)), seq,
        neighbours=((1023, report(front, hero=walking(-0.1))), (1026, report(back, hero=walking(0.2)))),
    )
    (f,) = staging_findings(cut)
    assert f.rule == "screen_direction" and f.severity is Severity.WARN
    assert f.measured["left_speed"] > 0 > f.measured["right_speed"]
    assert isinstance(f.fix, Review)


def test_screen_direction_reads_a_handle_frame_when_that_is_the_neighbour_the_check_had():
    seq = blend_sequence(blend={"file": "/sets/street.blend", "subject": "hero"})
    camera = CameraPose.looking((0.0, 1.2, 6.0), HERO, 35.0)
    # The left neighbour is its first handle frame, after the boundary: the speed is still per frame, forward in time.
    cut = reported_cut(
        report(camera, hero=walking(0.0)), report(camera, hero=walking(0.3)), seq,
        neighbours=((1025, report(camera, hero=walking(0.2))), (1026, report(camera, hero=walking(0.5)))),
    )
    m = RULES["screen_direction"].measure(cut)
    assert m["left_speed"] > 0 and m["right_speed"] == pytest.approx(m["left_speed"], rel=1e-6)
    assert judged("screen_direction", cut) is None


def test_without_a_neighbour_report_screen_direction_is_not_judged_on_a_reported_shot():
    seq = blend_sequence(blend={"file": "/sets/street.blend", "subject": "hero"})
    cut = reported_cut(report(around(0)), report(around(180)), seq)
    assert RULES["screen_direction"].measure(cut) is None


# -- frames without a report ----------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (report(around(-30)), None),
        (None, report(around(160))),
        (report(None), report(around(160))),
        (Reported(camera=around(-30)), Reported(camera=around(160))),
    ],
    ids=["right-frame-without-report", "left-frame-without-report", "no-camera", "no-objects"],
)
def test_a_frame_without_a_usable_report_is_not_judged_on_staging_and_nothing_crashes(left, right):
    cut = reported_cut(left, right)
    for rule in STAGING:
        assert RULES[rule].measure(cut) is None
    found = check_cut(cut)
    assert [f for f in found if f.rule in STAGING] == []
    assert not any(f.measured.get("crashed") for f in found)


def test_marks_reported_on_one_spot_are_no_line():
    one_spot = {"mark_a": (1.0, 0.0, 1.0), "mark_b": (1.0, 2.0, 1.0)}
    cut = reported_cut(report(around(-30), **one_spot), report(around(160), **one_spot))
    assert RULES["axis_180"].measure(cut) is None


# -- one set --------------------------------------------------------------------


def test_two_scenes_naming_the_same_blend_set_are_one_set():
    cut = reported_cut(report(around(-30)), report(around(160)), blend_sequence(right_scene={"blend": BLEND}))
    assert cut.same_set
    assert judged("axis_180", cut) is Severity.ERROR


def test_two_scenes_in_different_blend_files_are_not_one_set():
    other = {"blend": BLEND | {"file": "/sets/alley.blend"}}
    cut = reported_cut(report(around(-30)), report(around(160)), blend_sequence(right_scene=other))
    assert not cut.same_set
    assert all(RULES[rule].measure(cut) is None for rule in STAGING)


# -- grades ---------------------------------------------------------------------


def test_a_planted_exposure_error_in_a_blend_shot_from_another_set_gets_a_grade_fix():
    # Two .blend sets at one location and time of day: the frames are judged against each other.
    seq = blend_sequence(right_scene={"blend": BLEND | {"file": "/sets/alley.blend"}})
    left = frame(1)
    cut = reported_cut(report(around(-30)), report(around(40)), seq, pixels=(left, mirrored(left) * np.float32(2.0)))
    (f,) = [f for f in check_cut(cut) if f.rule == "exposure"]
    assert f.severity is Severity.ERROR and f.measured["stops"] == pytest.approx(1.0, abs=0.01)
    assert isinstance(f.fix, Grade) and f.fix.shot == "sh020"
    regraded = Cut(cut.left, replace(cut.right, shot=cut.right.shot.model_copy(update={"grade": f.fix.cdl})))
    assert abs(RULES["exposure"].measure(regraded)["stops"]) < 0.1


def test_a_wrong_grade_on_a_shot_of_the_same_blend_set_gets_a_grade_fix():
    seq = blend_sequence(right_blender=None)
    right = seq.shot("sh020").model_copy(update={"grade": CDL(slope=(1.8, 1.8, 1.8))})
    seq = seq.model_copy(update={"shots": (seq.shot("sh010"), right)})
    left = frame(2)
    cut = reported_cut(report(around(-30)), report(around(40)), seq, pixels=(left, mirrored(left)))
    (f,) = [f for f in check_cut(cut) if f.rule == "exposure"]
    assert f.measured["same_rig"] == 1.0 and f.measured["grade_stops"] == pytest.approx(math.log2(1.8), abs=0.05)
    assert isinstance(f.fix, Grade) and f.fix.shot == "sh020"


# -- one fix for both rules -----------------------------------------------------


def test_a_crossing_that_is_also_a_jump_gets_one_camera_move_that_clears_both():
    # Cameras 10 degrees either side of the line: crossing it, and only 20 degrees apart.
    cut = reported_cut(report(around(80)), report(around(100)))
    found = {f.rule: f for f in check_cut(cut)}
    assert found["axis_180"].severity is Severity.ERROR and "jump_cut_30" in found
    fix = found["axis_180"].fix
    assert isinstance(fix, Requeue) and found["jump_cut_30"].fix is None
    # The mirror across the line then the swing about the hero (who stands on it) is one mirror across a turned line.
    move = apply_patch(cut.right.shot, fix.patch).blender.camera_move
    assert move is not None and move.mirror is not None and move.mirror != LINE and move.yaw is None
    fixed = patched(cut, fix)
    assert judged("axis_180", fixed) is None and judged("jump_cut_30", fixed) is None
