"""Lighting: shots of one setting share their lights; a changed light is re-rendered, not graded."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.continuity.check import check_cut
from pipelines.continuity.findings import Grade, Requeue, Severity, apply_patch
from pipelines.continuity.rules import RULES
from tests.pipelines.continuity.synthetic import SKY, SUN, cut_of, findings_of, frame, mirrored, two_shots

RULE = RULES["lighting"]


def relit(**sun) -> list[dict]:
    return [SUN | sun, SKY]


def spec_cut(right=None, left=None, **kw):
    return cut_of(two_shots(left=left, right=right, **kw), None, None)


@pytest.mark.parametrize(
    ("sun", "severity"),
    [
        ({}, None),
        ({"kelvin": 5900}, None),  # 9 mired
        ({"kelvin": 6200}, Severity.WARN),  # 17 mired (500 K from 5600 K is 14.6)
        ({"kelvin": 4900}, Severity.WARN),
        ({"kelvin": 7600}, Severity.ERROR),  # 47 mired
        ({"intensity": 3.6}, None),  # 0.26 stop
        ({"intensity": 3.9}, Severity.WARN),  # 0.38 stop
        ({"intensity": 6.0}, Severity.ERROR),  # 1 stop
        ({"intensity": 0.0}, Severity.ERROR),  # the sun switched off
    ],
)
def test_sun_colour_is_judged_in_mired_and_intensity_in_stops(sun, severity):
    cut = spec_cut(right={"lights": relit(**sun)})
    m = RULE.measure(cut)
    assert RULE.judge(m) == severity


def test_a_changed_sky_counts_too():
    m = RULE.measure(spec_cut(right={"lights": [SUN, SKY | {"intensity": 1.0}]}))
    assert m["intensity_stops"] == pytest.approx(1.0)
    assert RULE.judge(m) == Severity.ERROR


def test_the_explanation_names_both_shots_the_light_and_the_numbers():
    cut = spec_cut(right={"lights": relit(kelvin=7600, intensity=6.0)})
    (f,) = findings_of(cut, "lighting")
    e = f.explanation
    assert "sh020 is lit differently from sh010" in e
    assert "the sun is 2.00x as bright (1.00 stop up, intensity 3 to 6)" in e
    assert "2000 K cooler (5600 K to 7600 K, 47 mired)" in e


def test_the_fix_gives_the_right_shot_the_scene_lights_that_the_left_shot_uses():
    cut = spec_cut(right={"lights": relit(kelvin=7600)})
    (f,) = findings_of(cut, "lighting")
    assert f.fix == Requeue(shot="sh020", patch={"lights": None})
    fixed = cut.with_right(cut.right.patched(f.fix.patch))
    assert fixed.right.shot.lights is None
    assert RULE.judge(RULE.measure(fixed)) is None


def test_the_fix_copies_the_left_shots_own_override():
    left_lights = relit(kelvin=3200)
    cut = spec_cut(left={"lights": left_lights})
    (f,) = findings_of(cut, "lighting")
    new = apply_patch(cut.right.shot, f.fix.patch)
    assert [light.model_dump(mode="json") for light in new.lights] == [
        light.model_dump(mode="json") for light in cut.left.shot.lights
    ]


def test_another_location_may_be_lit_as_it_likes():
    cut = spec_cut(right={"lights": relit(kelvin=3200), "continuity": {"location": "cave", "time_of_day": "noon"}})
    assert RULE.measure(cut) is None


def test_lights_only_one_shot_has_are_not_compared():
    cut = spec_cut(right={"lights": [SUN]})
    assert RULE.measure(cut)["lights_compared"] == 1.0
    assert RULE.measure(spec_cut(left={"lights": [SKY]}, right={"lights": [SUN]})) is None


def test_a_relit_shot_is_re_rendered_and_its_grade_findings_wait_for_the_new_frames():
    # The sun doubled: the frames are a stop apart and warmer, but grading over it would be wrong.
    left = frame(1)
    brighter = mirrored(left) * np.float32(2.0) * np.array([1.05, 1.0, 0.9], np.float32)
    cut = cut_of(two_shots(right={"lights": relit(intensity=6.0)}), left, brighter)
    found = {f.rule: f for f in check_cut(cut)}
    assert isinstance(found["lighting"].fix, Requeue)
    assert found["exposure"].severity == Severity.ERROR and found["exposure"].fix is None
    assert "re-render of sh020 proposed with the lighting finding replaces these pixels" in found["exposure"].explanation
    assert not any(isinstance(f.fix, Grade) for f in found.values())
    assert sum(isinstance(f.fix, Requeue) for f in found.values()) == 1


def test_after_the_re_render_the_grade_rules_judge_the_new_frames():
    left = frame(2)
    cut = cut_of(two_shots(), left, mirrored(left))  # the re-rendered right frame, lit like the left
    assert [f for f in check_cut(cut) if f.rule in ("lighting", "exposure", "white_balance")] == []
