"""The Blender engine through its protocol, rendering the example set for real at 64x36, 4 samples."""

from __future__ import annotations

import hashlib
import math
import subprocess

import numpy as np
import OpenEXR
import PyOpenColorIO as ocio
import pytest

from pipelines.color.views import OCIO_CONFIG
from pipelines.continuity import geometry
from pipelines.render.engines.base import EngineContext
from pipelines.render.engines.blender.engine import BlenderEngine
from pipelines.spec.base import ActionAxis
from pipelines.spec.sources import CameraMove, Yaw
from tests.pipelines.render.blender import support
from tests.pipelines.render.blender.support import setup

# The same frame rendered by a plain bpy script, with the settings the engine promises.
PLAIN_RENDER = """
import sys, bpy
blend, out = sys.argv[1:]
bpy.ops.wm.open_mainfile(filepath=blend)
s = bpy.data.scenes["Scene"]
s.camera = s.objects["CamA"]
s.render.resolution_x, s.render.resolution_y, s.render.resolution_percentage = 64, 36, 100
s.cycles.samples, s.cycles.seed = 4, 5
s.cycles.use_adaptive_sampling = s.cycles.use_denoising = s.cycles.use_animated_seed = False
s.render.threads_mode, s.render.threads = "FIXED", 1
s.render.image_settings.media_type = "MULTI_LAYER_IMAGE"
s.render.image_settings.file_format = "OPEN_EXR_MULTILAYER"
s.render.image_settings.color_depth = "32"
s.frame_set(1)
s.render.filepath = out
bpy.ops.render.render(write_still=True)
"""


def _close(a, b, tol=1e-4) -> bool:
    return all(math.isclose(x, y, abs_tol=tol) for x, y in zip(a, b))


def test_pixels_are_finite_acescg_the_ocio_conversion_of_blenders_own_render(engine, blend, blender_python, tmp_path):
    sh010 = setup("sh010", blend)
    engine.load(sh010)
    (frame,) = engine.render_chunk(1001, 1001)

    plain = tmp_path / "plain.exr"
    subprocess.run([str(blender_python), "-c", PLAIN_RENDER, str(blend), str(plain)], check=True, capture_output=True, timeout=300)
    with OpenEXR.File(str(plain)) as exr:
        rec709 = np.ascontiguousarray(exr.parts[0].channels["ViewLayer.Combined"].pixels[..., :3], dtype=np.float32)
    expected = rec709.copy()
    ocio.Config.CreateFromFile(OCIO_CONFIG).getProcessor("Linear Rec.709 (sRGB)", "ACEScg").getDefaultCPUProcessor().applyRGB(expected)

    assert frame.pixels.shape == (36, 64, 3) and frame.pixels.dtype == np.float32
    assert np.isfinite(frame.pixels).all()
    np.testing.assert_allclose(frame.pixels, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(frame.pixels, rec709, atol=1e-3), "the frame is still in Rec.709 primaries"
    assert frame.attributes["engine"] == "blender"
    assert frame.attributes["sourceColourSpace"] == "Linear Rec.709 (sRGB)"
    assert frame.attributes["blenderVersion"] == "5.0.1"
    assert frame.attributes["samples"] == "4"


def test_reported_camera_is_the_camera_object_in_the_farms_y_up_world(engine, blend):
    engine.load(setup("sh010", blend))
    (frame,) = engine.render_chunk(1001, 1001)

    cam = frame.camera
    assert cam is not None
    assert _close(cam.position, support.CAM_A)
    look = np.subtract(support.CAM_A_AIM, support.CAM_A)
    assert _close(cam.forward, look / np.linalg.norm(look))
    assert cam.up[1] > 0.9, "an upright camera's up is the farm's +Y"
    assert cam.focal_mm == pytest.approx(support.CAM_A_LENS)
    # 36 mm sensor fitted to the 16:9 width: 20.25 mm tall.
    assert cam.sensor_mm == pytest.approx((36.0, 20.25))
    assert cam.fov == pytest.approx(math.degrees(2 * math.atan(20.25 / 2 / support.CAM_A_LENS)))
    assert _close(frame.objects["Hero"], support.HERO_AT_FRAME_1)
    assert _close(frame.objects["Partner"], support.PARTNER)


def test_watched_objects_are_reported_where_the_animation_puts_them(engine, blend):
    engine.load(setup("sh010", blend))
    first, second = engine.render_chunk(1001, 1002)
    # Hero rolls 4.5 m along X over Blender frames 1-72, linearly.
    assert first.objects["Hero"][0] == pytest.approx(-2.0)
    assert second.objects["Hero"][0] == pytest.approx(-2.0 + 4.5 / 71)
    assert [first.frame, second.frame] == [1001, 1002]


def test_depth_is_returned_only_when_the_shot_asks_for_it(engine, blend):
    engine.load(setup("sh020", blend))  # passes: [depth]
    (with_depth,) = engine.render_chunk(1025, 1025)
    engine.load(setup("sh010", blend))
    (without,) = engine.render_chunk(1001, 1001)
    assert with_depth.depth is not None and with_depth.depth.shape == (36, 64)
    assert with_depth.depth.dtype == np.float32 and (with_depth.depth > 0).all()
    assert without.depth is None


def test_the_file_is_opened_once_across_chunks_and_shots(engine, blend):
    engine.load(setup("sh010", blend))
    list(engine.render_chunk(1001, 1001))
    list(engine.render_chunk(1002, 1002))
    engine.load(setup("sh020", blend))
    list(engine.render_chunk(1025, 1025))
    assert engine.process.request({"op": "ping"}, 60)["opens"] == 1
    assert engine.process.generation == 1


def test_a_changed_file_is_opened_again(engine, blend, tmp_path):
    engine.load(setup("sh010", blend))
    other = tmp_path / "other.blend"
    other.write_bytes(blend.read_bytes())
    engine.load(setup("sh010", other))
    assert engine.process.request({"op": "ping"}, 60)["opens"] == 2


@pytest.mark.parametrize(
    "change, named",
    [
        ({"camera": "CamZ"}, "CamZ"),
        ({"camera": "Hero"}, "Hero"),  # an object, but not a camera
    ],
)
def test_a_missing_camera_object_is_a_value_error_naming_it(engine, blend, change, named):
    with pytest.raises(ValueError, match=named):
        engine.load(setup("sh010", blend, **change))


def test_a_missing_file_is_a_value_error_naming_it(engine, tmp_path):
    missing = tmp_path / "nowhere" / "set.blend"
    with pytest.raises(ValueError, match="nowhere/set.blend"):
        engine.load(setup("sh010", missing))


def test_a_file_that_is_not_a_blend_is_a_value_error_naming_it(engine, tmp_path):
    bogus = tmp_path / "bogus.blend"
    bogus.write_bytes(b"not a blend file\n" * 10)
    with pytest.raises(ValueError, match="bogus.blend"):
        engine.load(setup("sh010", bogus))


def test_a_missing_scene_or_watched_object_is_a_value_error_naming_it(engine, blend):
    base = setup("sh010", blend)
    assert base.scene.blend is not None
    for change, named in (({"scene": "Layout"}, "Layout"), ({"subject": "Villain"}, "Villain")):
        scene = base.scene.model_copy(update={"blend": base.scene.blend.model_copy(update=change)})
        with pytest.raises(ValueError, match=named):
            engine.load(base.model_copy(update={"scene": scene}))


def test_a_store_file_is_fetched_once_into_scratch_by_digest(blender_python, blend, tmp_path):
    reads: list[str] = []

    def fetch(key: str) -> bytes:
        reads.append(key)
        return blend.read_bytes()

    e = BlenderEngine(EngineContext(scratch=tmp_path / "scratch", fetch=fetch), python=blender_python)
    try:
        e.load(setup("sh010", "store:sets/dusk.blend"))
        (frame,) = e.render_chunk(1001, 1001)
        e.load(setup("sh010", "store:sets/dusk.blend"))  # the same setup: nothing to do
    finally:
        e.close()
    digest = hashlib.sha256(blend.read_bytes()).hexdigest()
    assert reads == ["sets/dusk.blend"]
    assert (tmp_path / "scratch" / "blender-files" / f"{digest}.blend").read_bytes() == blend.read_bytes()
    assert frame.attributes["blenderFile"] == "store:sets/dusk.blend"


def test_a_mirror_camera_move_moves_the_reported_camera_as_geometry_mirror_says(engine, blend):
    axis = ActionAxis(a=support.HERO_AT_FRAME_1, b=support.PARTNER)
    engine.load(setup("sh030", blend))
    (plain,) = engine.render_chunk(1049, 1049)
    engine.load(setup("sh030", blend, camera_move=CameraMove(mirror=axis)))
    (moved,) = engine.render_chunk(1049, 1049)

    assert plain.camera is not None and moved.camera is not None
    assert _close(plain.camera.position, support.CAM_C)
    assert _close(moved.camera.position, geometry.mirror(axis, plain.camera.position))
    aim = geometry.mirror(axis, tuple(p + f for p, f in zip(plain.camera.position, plain.camera.forward)))
    assert _close(moved.camera.forward, np.subtract(aim, moved.camera.position))
    assert geometry.axis_side(axis, moved.camera.position) * geometry.axis_side(axis, plain.camera.position) < 0
    assert moved.camera.up[1] > 0.9
    assert not np.allclose(moved.pixels, plain.pixels)
    assert "mirror" in moved.attributes["cameraMove"]


def test_a_yaw_camera_move_swings_the_camera_as_geometry_yaw_about_says(engine, blend):
    centre, degrees = (0.0, 0.5, 0.0), 40.0
    engine.load(setup("sh010", blend, camera_move=CameraMove(yaw=Yaw(centre=centre, degrees=degrees))))
    (frame,) = engine.render_chunk(1001, 1001)
    assert frame.camera is not None
    assert _close(frame.camera.position, geometry.yaw_about(support.CAM_A, centre, degrees))


def test_the_blend_is_byte_identical_after_rendering_with_a_camera_move(engine, blend):
    before = blend.read_bytes()
    mtime = blend.stat().st_mtime_ns
    axis = ActionAxis(a=support.HERO_AT_FRAME_1, b=support.PARTNER)
    engine.load(setup("sh030", blend, camera_move=CameraMove(mirror=axis)))
    list(engine.render_chunk(1049, 1050))
    engine.close()
    assert blend.read_bytes() == before
    assert blend.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in blend.parent.iterdir() if p.name.startswith("set")) == ["set.blend"], "no set.blend1 backup either"


def test_same_setup_renders_the_same_pixels_twice(engine, blend):
    engine.load(setup("sh010", blend))
    (a,) = engine.render_chunk(1001, 1001)
    (b,) = engine.render_chunk(1001, 1001)
    assert np.array_equal(a.pixels, b.pixels)


def test_a_shot_without_a_blend_set_or_on_an_unknown_device_is_a_value_error(blender_python, blend, tmp_path):
    base = setup("sh010", blend)
    e = BlenderEngine(EngineContext(scratch=tmp_path, device="mps"), python=blender_python)
    with pytest.raises(ValueError, match="mps"):
        e.load(base)
    with pytest.raises(ValueError, match="blender.camera"):
        e.load(base.model_copy(update={"blender": None}))
    e.close()


def test_a_set_in_another_working_space_is_converted_from_that_space(engine, blend, blender_python):
    resave = (
        "import sys, bpy; bpy.ops.wm.open_mainfile(filepath=sys.argv[1]); "
        "bpy.ops.wm.set_working_color_space(working_space='Linear Rec.2020'); bpy.ops.wm.save_mainfile()"
    )
    subprocess.run([str(blender_python), "-c", resave, str(blend)], check=True, capture_output=True, timeout=300)
    engine.load(setup("sh010", blend))
    (frame,) = engine.render_chunk(1001, 1001)
    assert frame.attributes["sourceColourSpace"] == "Linear Rec.2020"
    assert frame.attributes["colourConversion"].endswith("Linear Rec.2020 -> ACEScg")
    assert np.isfinite(frame.pixels).all()


def test_scripts_embedded_in_a_blend_never_run(engine, blend, blender_python, tmp_path):
    marker = tmp_path / "the-script-ran"
    plant = (
        "import sys, bpy; bpy.ops.wm.open_mainfile(filepath=sys.argv[1]); "
        "t = bpy.data.texts.new('on_load.py'); t.write(f'open({sys.argv[2]!r}, \"w\").write(\"ran\")'); "
        "t.use_module = True; bpy.ops.wm.save_mainfile()"
    )
    subprocess.run([str(blender_python), "-c", plant, str(blend), str(marker)], check=True, capture_output=True, timeout=300)
    engine.load(setup("sh010", blend))
    list(engine.render_chunk(1001, 1001))
    assert not marker.exists()


@pytest.mark.parametrize("missing", [KeyError, FileNotFoundError])
def test_a_store_file_the_store_lacks_is_a_value_error_naming_it(blender_python, tmp_path, missing):
    def fetch(key: str) -> bytes:
        raise missing(key)

    e = BlenderEngine(EngineContext(scratch=tmp_path, fetch=fetch), python=blender_python)
    with pytest.raises(ValueError, match="store:sets/gone.blend"):
        e.load(setup("sh010", "store:sets/gone.blend"))
    e.close()


# A plain render from a camera placed by a farm world_to_camera (row-major), converted back to Blender's Z-up world.
PLACED_RENDER = """
import sys, bpy
from mathutils import Matrix
blend, out, *m = sys.argv[1:]
w2c = Matrix([[float(v) for v in m[r * 4:r * 4 + 4]] for r in range(4)])
swap = Matrix(((1, 0, 0, 0), (0, 0, 1, 0), (0, -1, 0, 0), (0, 0, 0, 1)))
bpy.ops.wm.open_mainfile(filepath=blend)
s = bpy.data.scenes["Scene"]
cam = s.objects["CamC"]
cam.animation_data_clear()
cam.matrix_world = swap.inverted() @ w2c.inverted()
s.camera = cam
s.render.resolution_x, s.render.resolution_y, s.render.resolution_percentage = 64, 36, 100
s.cycles.samples, s.cycles.seed = 4, 5
s.cycles.use_adaptive_sampling = s.cycles.use_denoising = s.cycles.use_animated_seed = False
s.render.threads_mode, s.render.threads = "FIXED", 1
s.render.image_settings.media_type = "MULTI_LAYER_IMAGE"
s.render.image_settings.file_format = "OPEN_EXR_MULTILAYER"
s.render.image_settings.color_depth = "32"
s.frame_set(49)
s.render.filepath = out
bpy.ops.render.render(write_still=True)
"""


def test_a_moved_camera_renders_what_its_reported_camera_sees(engine, blend, blender_python, tmp_path):
    engine.load(setup("sh030", blend, camera_move=CameraMove(mirror=ActionAxis(a=support.HERO_AT_FRAME_1, b=support.PARTNER))))
    (moved,) = engine.render_chunk(1049, 1049)
    assert moved.camera is not None

    placed = tmp_path / "placed.exr"
    matrix = [repr(v) for v in moved.camera.world_to_camera]
    subprocess.run([str(blender_python), "-c", PLACED_RENDER, str(blend), str(placed), *matrix], check=True, capture_output=True, timeout=300)
    with OpenEXR.File(str(placed)) as exr:
        rec709 = np.ascontiguousarray(exr.parts[0].channels["ViewLayer.Combined"].pixels[..., :3], dtype=np.float32)
    ocio.Config.CreateFromFile(OCIO_CONFIG).getProcessor("Linear Rec.709 (sRGB)", "ACEScg").getDefaultCPUProcessor().applyRGB(rec709)
    # The same camera up to float rounding of its matrix: the same picture.
    assert float(np.abs(moved.pixels - rec709).mean()) < 1e-3
