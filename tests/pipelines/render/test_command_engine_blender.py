"""The command engine with a real DCC: the Blender environment's Python runs examples/commandline/render_blend.py.

Needs the Blender environment (`make blender`); skipped without it, except
under CI, where its absence fails.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
from pathlib import Path

import numpy as np
import OpenEXR
import PyOpenColorIO as ocio
import pytest

from pipelines.color.views import OCIO_CONFIG
from pipelines.render.engines.base import CameraPose, EngineContext
from pipelines.render.engines.command import INFO
from pipelines.spec.loading import load_sequence
from pipelines.spec.setup import ShotSetup, shot_setup

REPO = Path(__file__).parents[3]
BLENDER_PYTHON = REPO / ".venv-blender" / "bin" / "python"
EXAMPLE = REPO / "examples" / "commandline"
SIZE, SAMPLES = (32, 18), 2
FIRST, LAST = 1001, 1012
# Where build_blend.py puts things, in the farm's Y-up world (Blender's (x, y, z) is (x, z, -y)).
CAMERA_AT = (0.0, 2.5, 8.0)
HERO_AT = {FIRST: (-2.0, 0.5, 0.0), LAST: (2.0, 0.5, 0.0)}
PARTNER_AT = (3.0, 0.5, -1.0)
# A 50 mm lens on Blender's 36 mm sensor, fitted to the frame's width.
VERTICAL_FOV = math.degrees(2 * math.atan(18 / 50 * SIZE[1] / SIZE[0]))

if not BLENDER_PYTHON.exists():
    reason = f"the Blender environment is missing ({BLENDER_PYTHON}); `make blender` builds it"
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def blender_run(*args: str | Path) -> str:
    done = subprocess.run([str(BLENDER_PYTHON), *map(str, args)], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A .blend made by the example's own builder."""
    path = tmp_path_factory.mktemp("set") / "set.blend"
    blender_run(EXAMPLE / "build_blend.py", path)
    return path


def example_setup(blend: Path) -> ShotSetup:
    """The example spec's shot at the test size, reading `blend`."""
    sequence = load_sequence(EXAMPLE / "sequence.yaml").with_quality(resolution=SIZE, samples=SAMPLES)
    setup = shot_setup(sequence, "sh010")
    command = setup.scene.command.model_copy(update={"file": str(blend)})
    return setup.model_copy(update={"scene": setup.scene.model_copy(update={"command": command})})


@pytest.fixture(scope="module")
def rendered(built, tmp_path_factory):
    """The whole shot through the engine, in one chunk, with what the engine logged."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("shotfarm.engines.command")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    cwd = os.getcwd()
    os.chdir(REPO)  # the spec's paths are relative to the checkout, as on a node
    engine = INFO.build(EngineContext(scratch=tmp_path_factory.mktemp("scratch"), threads=1))
    try:
        engine.load(example_setup(built))
        frames = {f.frame: f for f in engine.render_chunk(FIRST, LAST)}
    finally:
        engine.close()
        os.chdir(cwd)
        logger.removeHandler(handler)
        logger.setLevel(previous)
    return frames, [r.getMessage() for r in records]


@pytest.fixture(scope="module")
def blenders_own(built, tmp_path_factory) -> dict[int, np.ndarray]:
    """What render_blend.py writes for the first and last frames when run by hand, read as written."""
    out = tmp_path_factory.mktemp("by-hand")
    pixels = {}
    for frame in (FIRST, LAST):
        blender_run(EXAMPLE / "render_blend.py", built, frame, frame, out / "f.####.exr", "--size", *map(str, SIZE), "--samples", SAMPLES)
        with OpenEXR.File(str(out / f"f.{frame:04d}.exr")) as exr:
            assert exr.header()["colorInteropID"] == "lin_rec709_scene"  # Blender says what it wrote
            pixels[frame] = exr.channels()["RGB"].pixels.astype(np.float32)
    return pixels


def project(camera: CameraPose, point, size) -> tuple[int, int]:
    """Pixel (row, column) a world point lands on."""
    m = np.array(camera.world_to_camera).reshape(4, 4)
    x, y, z = (m @ np.append(point, 1.0))[:3]
    ty = math.tan(math.radians(camera.fov) / 2)
    tx = ty * size[0] / size[1]
    u, v = 0.5 + 0.5 * x / (-z * tx), 0.5 - 0.5 * y / (-z * ty)
    return int(v * size[1]), int(u * size[0])


def test_every_frame_of_the_shot_comes_back_from_blender_at_the_sequence_size(rendered):
    frames, _ = rendered
    assert sorted(frames) == list(range(FIRST, LAST + 1))
    assert all(f.pixels.shape == (SIZE[1], SIZE[0], 3) and np.isfinite(f.pixels).all() for f in frames.values())


def test_the_pixels_are_blenders_exr_converted_from_linear_rec709_to_acescg(rendered, blenders_own):
    frames, _ = rendered
    config = ocio.Config.CreateFromFile(OCIO_CONFIG)
    to_acescg = config.getProcessor("Linear Rec.709 (sRGB)", "ACEScg").getDefaultCPUProcessor()
    for frame, written in blenders_own.items():
        expected = written.copy()
        to_acescg.applyRGB(expected)
        np.testing.assert_allclose(frames[frame].pixels, expected, atol=1e-6)
        assert not np.allclose(frames[frame].pixels, written, atol=1e-3)  # a conversion happened
        assert frames[frame].attributes["colour_space"] == "Linear Rec.709 (sRGB)"


def test_the_camera_blender_looked_through_is_read_back_in_the_farms_world(rendered):
    frames, _ = rendered
    for frame, hero in HERO_AT.items():
        camera = frames[frame].camera
        assert camera is not None
        assert camera.position == pytest.approx(CAMERA_AT, abs=1e-4)
        aim = np.subtract(hero, CAMERA_AT)
        assert camera.forward == pytest.approx(tuple(aim / np.linalg.norm(aim)), abs=1e-4)  # it tracks the ball
        assert camera.up[1] > 0.9
        assert camera.fov == pytest.approx(VERTICAL_FOV, abs=1e-3)


def test_the_subject_blender_was_asked_to_watch_is_reported_where_it_is_with_every_frame(rendered):
    frames, _ = rendered
    for frame, hero in HERO_AT.items():
        assert frames[frame].objects.keys() == {"Hero"}
        assert frames[frame].objects["Hero"] == pytest.approx(hero, abs=1e-6)
    xs = [frames[f].objects["Hero"][0] for f in range(FIRST, LAST + 1)]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)  # it rolls, frame by frame


def test_the_camera_puts_each_object_where_blender_drew_it(rendered):
    frames, _ = rendered
    last = frames[LAST]
    row, col = project(last.camera, HERO_AT[LAST], SIZE)
    red, green, blue = last.pixels[row, col]
    assert red > 2 * max(green, blue), "the red ball is where the camera says it is"
    row, col = project(last.camera, PARTNER_AT, SIZE)
    assert col > SIZE[0] // 2  # right of the ball, as seen from the camera
    red, green, blue = last.pixels[row, col]
    assert blue > 2 * red, "the blue block is where the camera says it is"


def test_blenders_progress_reaches_the_log_prefixed_with_the_shot_and_frames(rendered):
    _, lines = rendered
    assert f"sh010 frames {FIRST}-{LAST}: render_blend: frame {FIRST} saved" in " ".join(lines)
    assert any(line.startswith(f"sh010 frames {FIRST}-{LAST}: ") and "Saved:" in line for line in lines)


@pytest.mark.slow
def test_the_example_renders_through_the_farm_to_a_master_with_blenders_camera_and_subject_on_every_frame(ray_session, tmp_path):
    from orchestrator.config.settings import FarmSettings
    from orchestrator.interfaces.embedded import render
    from pipelines.exr import read_header
    from pipelines.render.reported import reported

    assert Path.cwd() == REPO, "the example's paths are relative to the checkout, where the farm runs"
    sequence = load_sequence(EXAMPLE / "sequence.yaml").with_quality(resolution=SIZE, samples=SAMPLES)
    progress = render(sequence, tmp_path, FarmSettings(chunk_frames=16), poll=0.2)
    assert progress.status.value == "completed", progress.reason
    assert progress.master_frames == LAST - FIRST + 1
    stored = sorted(tmp_path.glob("demo/commandline/shots/sh010/**/*.exr"))
    assert len(stored) == LAST - FIRST + 1
    reports = [reported(read_header(path.read_bytes())) for path in stored]
    assert all(r.camera is not None and r.camera.position == pytest.approx(CAMERA_AT, abs=1e-3) for r in reports)
    assert all("Hero" in r.objects for r in reports)
