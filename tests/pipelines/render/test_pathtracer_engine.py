"""The built-in path tracer as a plug-in: its frames carry the spec camera and the watched objects."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.render.engines import registry
from pipelines.render.engines.base import CAMERA, OBJECTS, PIXELS, EngineContext
from pipelines.render.engines.pathtracer import PathTracer
from pipelines.render.engines.pathtracer_plugin import AXIS_ENDS
from pipelines.spec import scene as s
from pipelines.spec.base import ActionAxis
from pipelines.spec.setup import ShotSetup
from pipelines.spec.sources import BlendFile

CUT = 1001
KEYS = (
    s.CameraKey(frame=0, position=(0.0, 1.0, 6.0), look_at=(0.0, 1.0, 0.0), fov=40),
    s.CameraKey(frame=4, position=(4.0, 2.0, 4.0), look_at=(0.5, 0.5, 0.0), fov=30),
)
AXIS = ActionAxis(a=(-3.0, 0.0, 0.0), b=(3.0, 0.0, 0.0))


def setup(**scene_extra) -> ShotSetup:
    objects = (
        s.Plane(name="ground", material="grey"),
        s.Sphere(
            name="hero", center=(0.0, 1.0, 0.0), radius=0.5, material="grey",
            motion=(s.MotionKey(frame=0, offset=(0.0, 0.0, 0.0)), s.MotionKey(frame=4, offset=(2.0, 0.0, -1.0))),
        ),
    )  # fmt: skip
    scene = s.Scene(materials={"grey": s.Diffuse()}, objects=objects, lights=(s.Sky(intensity=1.0),), subject="hero", **scene_extra)
    return ShotSetup(
        shot="sh010", scene=scene, camera=s.Camera(keys=KEYS), lights=scene.lights,
        resolution=(16, 10), samples=2, bounces=2, seed=3, cut_first=CUT,
    )  # fmt: skip


@pytest.fixture
def engine():
    built = registry.build("pathtracer", EngineContext(device="cpu", threads=1))
    yield built
    built.close()


def test_it_declares_what_it_reads_and_returns():
    info = registry.info("pathtracer")
    assert set(info.returns) == {PIXELS, CAMERA, OBJECTS}
    assert {"scene", "camera", "samples", "seed"} <= set(info.reads)


def test_each_frame_carries_the_spec_camera_that_rendered_it(engine):
    shot = setup()
    engine.load(shot)
    frames = list(engine.render_chunk(CUT, CUT + 5))
    assert [f.frame for f in frames] == list(range(CUT, CUT + 6))
    for f in frames:
        key = shot.camera.at(f.frame - CUT)
        expected_forward = np.subtract(key.look_at, key.position) / math.dist(key.look_at, key.position)
        assert f.camera.position == pytest.approx(key.position, abs=1e-9)
        assert f.camera.forward == pytest.approx(tuple(expected_forward), abs=1e-9)
        assert f.camera.fov == pytest.approx(key.fov)
    assert frames[2].camera.position == pytest.approx((2.0, 1.5, 5.0))  # halfway between the keys


def test_each_frame_carries_the_subject_by_its_object_name_where_it_has_moved(engine):
    engine.load(setup())
    first, middle = list(engine.render_chunk(CUT, CUT + 2))[::2]
    assert first.objects == {"hero": (0.0, 1.0, 0.0)}
    assert middle.objects["hero"] == pytest.approx((1.0, 1.0, -0.5))


def test_the_line_of_action_is_reported_by_its_two_ground_points(engine):
    engine.load(setup(action_axis=AXIS))
    (frame,) = engine.render_chunk(CUT, CUT)
    assert {AXIS_ENDS[0]: frame.objects[AXIS_ENDS[0]], AXIS_ENDS[1]: frame.objects[AXIS_ENDS[1]]} == {
        "action_axis.a": AXIS.a, "action_axis.b": AXIS.b,
    }  # fmt: skip


def test_its_pixels_are_the_path_tracers_own_bit_for_bit(engine):
    shot = setup()
    engine.load(shot)
    (frame,) = engine.render_chunk(CUT + 1, CUT + 1)
    tracer = PathTracer("cpu")
    tracer.load(shot)
    assert frame.pixels.dtype == np.float32 and frame.pixels.shape == (10, 16, 3)
    assert np.array_equal(frame.pixels, tracer.render(CUT + 1).numpy())


def test_a_studio_file_scene_is_refused_at_load_as_a_value_error(engine):
    blend = s.Scene(blend=BlendFile(file="/shows/demo/set.blend"))
    with pytest.raises(ValueError, match="spec scenes"):
        engine.load(setup().model_copy(update={"scene": blend}))


def test_rendering_before_a_shot_is_loaded_is_an_error(engine):
    with pytest.raises(RuntimeError, match="load"):
        next(engine.render_chunk(CUT, CUT))


def test_a_closed_engine_holds_no_shot_and_closing_twice_is_safe(engine):
    engine.load(setup())
    engine.close()
    engine.close()
    with pytest.raises(RuntimeError, match="load"):
        next(engine.render_chunk(CUT, CUT))
