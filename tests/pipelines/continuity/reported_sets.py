"""A .blend set for the continuity tests, and the reports its engine would give: cameras either side of a line."""

from __future__ import annotations

import math

from pipelines.render.engines.base import CameraPose
from pipelines.render.reported import Reported
from pipelines.spec.base import ActionAxis
from pipelines.spec.loading import parse_sequence
from pipelines.spec.sequence import Sequence
from tests.pipelines.continuity.synthetic import TAGS

HERO = (0.0, 1.0, 0.0)
# The line of action runs along X through the hero: cameras at +Z are on one side, at -Z the other.
MARKS = {"mark_a": (-5.0, 0.3, 0.0), "mark_b": (5.0, 0.2, 0.0)}
LINE = ActionAxis(a=(-5.0, 0.0, 0.0), b=(5.0, 0.0, 0.0))
BLEND = {"file": "/sets/street.blend", "scene": "Street", "subject": "hero", "action_line": ["mark_a", "mark_b"]}


def blend_sequence(blend: dict | None = None, right_scene: dict | None = None, right_blender: dict | None = None) -> Sequence:
    """sh010 (1001-1024) and sh020 (1025-1048) on one .blend set; `right_scene` puts sh020 on a second scene."""
    scenes = {"street": {"blend": blend or BLEND}}
    right = {"name": "sh020", "scene": "street", "frames": {"first": 1025, "last": 1048}, "handles": 2}
    if right_scene is not None:
        scenes["street_b"] = right_scene
        right["scene"] = "street_b"
    right["blender"] = {"camera": "CamB"} | (right_blender or {})
    left = {"name": "sh010", "scene": "street", "frames": {"first": 1001, "last": 1024}, "handles": 2}
    left["blender"] = {"camera": "CamA", "frame_offset": -1000}
    shots = [shot | {"continuity": dict(TAGS)} for shot in (left, right)]
    return parse_sequence(
        {"show": "demo", "sequence": "sq010", "resolution": [96, 54], "scenes": scenes, "shots": shots}
    )


def around(azimuth: float, distance: float = 6.0, height: float = 1.2, fov: float = 35.0, at=HERO) -> CameraPose:
    """A camera on a circle around `at` looking at it; azimuth 0 is +Z, 90 is +X (on the line)."""
    a = math.radians(azimuth)
    return CameraPose.looking((at[0] + distance * math.sin(a), height, at[2] + distance * math.cos(a)), at, fov)


def report(camera: CameraPose | None, hero=HERO, **objects) -> Reported:
    return Reported(camera=camera, objects={"hero": hero, **MARKS, **objects} if hero is not None else dict(MARKS))
