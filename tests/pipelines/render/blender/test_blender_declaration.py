"""What the Blender engine declares, and the worker's camera moves against the continuity geometry, without Blender."""

from __future__ import annotations

import itertools

import pytest

from pipelines.continuity import geometry
from pipelines.render.engines import blender
from pipelines.render.engines.base import CAMERA, DEPTH, OBJECTS, PIXELS
from pipelines.render.engines.blender import worker
from pipelines.render.engines.blender.process import blender_python
from pipelines.spec.base import ActionAxis

POINTS = [(x, y, z) for x, y, z in itertools.product((-7.5, 0.0, 3.25), (0.0, 1.7), (-4.0, 0.5, 9.0))]


def test_the_engine_declares_blender_its_environment_devices_and_what_it_returns():
    info = blender.INFO
    assert info.name == "blender"
    assert info.devices == ("cpu", "cuda")
    python = blender_python()
    assert info.environment == (str(python.parent.parent) if python is not None else ".venv-blender")
    assert set(info.returns) == {PIXELS, CAMERA, DEPTH, OBJECTS}
    assert {"scene.blend", "blender.camera", "blender.camera_move"} <= set(info.reads)


def test_without_the_environment_the_probe_says_to_run_make_blender(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOTFARM_BLENDER_PYTHON", str(tmp_path / "missing" / "python"))
    why = blender.INFO.why_unusable()
    assert why is not None and "make blender" in why and "missing" in why


@pytest.mark.parametrize("axis", [ActionAxis(a=(-2.0, 0.0, 0.0), b=(3.5, 0.0, 0.0)), ActionAxis(a=(1.0, 0.0, -3.0), b=(-2.0, 0.0, 4.0))])
def test_the_workers_mirror_is_the_continuity_rules_mirror(axis):
    for p in POINTS:
        assert worker.mirror(axis.a, axis.b, p) == pytest.approx(geometry.mirror(axis, p))


@pytest.mark.parametrize("degrees", [-90.0, 17.5, 180.0])
def test_the_workers_yaw_is_the_continuity_rules_yaw(degrees):
    centre = (0.5, 0.0, -1.0)
    for p in POINTS:
        assert worker.yaw_about(p, centre, degrees) == pytest.approx(geometry.yaw_about(p, centre, degrees))


def test_farm_and_blender_coordinates_convert_both_ways():
    for p in POINTS:
        assert worker.to_farm(worker.from_farm(p)) == pytest.approx(p)
    # Blender's up (+Z) is the farm's +Y; Blender's -Y (towards a default front camera) is the farm's +Z.
    assert worker.to_farm((0.0, 0.0, 1.0)) == [0.0, 1.0, 0.0]
    assert worker.to_farm((0.0, -1.0, 0.0)) == [0.0, 0.0, 1.0]
