"""The command engine runs a real program per chunk and reads back its EXRs: the stand-in DCC is tests/pipelines/render/dcc.py."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pipelines.render.engines.base import EngineContext
from pipelines.render.engines.command import INFO
from pipelines.render.engines.command.frames import FrameOutputError
from pipelines.render.engines.command.process import MAX_LINE, CommandFailed, CommandTimedOut
from pipelines.spec.scene import Scene
from pipelines.spec.setup import ShotSetup
from pipelines.spec.sources import CommandSet

DCC = str(Path(__file__).with_name("dcc.py"))
ARGV = (sys.executable, DCC, "{scene}", "{first}", "{last}", "{output}", "{width}", "{height}")
SIZE = (16, 8)
CAMERA = {"position": [3.0, 2.0, 6.0], "look_at": [0.0, 1.0, 0.0], "fov": 35.0}
# Linear Rec.709 primaries in ACEScg (Bradford D65 -> D60), the columns of the published matrix.
REC709_RED_IN_ACESCG = (0.61311, 0.07019, 0.02062)


def setup_for(scene_file: Path, argv=ARGV, **command) -> ShotSetup:
    return ShotSetup(
        shot="sh010", engine="command", scene=Scene(command=CommandSet(file=str(scene_file), argv=argv, **command)), camera=None,
        lights=(), resolution=SIZE, samples=1, bounces=1, seed=0, cut_first=1001,
    )


@pytest.fixture
def plan(tmp_path):
    """Write what the stand-in DCC should do; returns the scene file to hand it."""

    def write(**what) -> Path:
        path = tmp_path / "shot.json"
        path.write_text(json.dumps(what))
        return path

    return write


@pytest.fixture
def engine(tmp_path):
    engine = INFO.build(EngineContext(scratch=tmp_path / "scratch", threads=1))
    yield engine
    engine.close()


def render(engine, setup, first=1001, last=1003):
    engine.load(setup)
    return list(engine.render_chunk(first, last))


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


# -- frames -------------------------------------------------------------------


def test_every_frame_of_the_chunk_comes_back_in_order_with_the_pixels_the_program_wrote(engine, plan):
    frames = render(engine, setup_for(plan(rgb=[0.1, 0.2, 0.3])), 1001, 1003)
    assert [f.frame for f in frames] == [1001, 1002, 1003]
    for f in frames:
        assert f.pixels.shape == (SIZE[1], SIZE[0], 3) and f.pixels.dtype == np.float32
        np.testing.assert_allclose(f.pixels[0, 0], [0.1 + 0.01 * (f.frame - 1001), 0.2, 0.3], rtol=1e-6)


def test_the_camera_the_program_wrote_into_each_header_is_read_back(engine, plan):
    frame = render(engine, setup_for(plan(camera=CAMERA)), 1001, 1001)[0]
    cam = frame.camera
    assert cam is not None
    assert cam.position == pytest.approx(CAMERA["position"], abs=1e-4)
    look = np.subtract(CAMERA["look_at"], CAMERA["position"])
    assert cam.forward == pytest.approx(tuple(look / np.linalg.norm(look)), abs=1e-5)
    assert cam.up[1] > 0.9  # upright
    assert cam.fov == pytest.approx(CAMERA["fov"], abs=1e-3)


def test_a_frame_without_camera_matrices_has_no_camera(engine, plan):
    assert render(engine, setup_for(plan()), 1001, 1001)[0].camera is None


def test_a_camera_without_a_field_of_view_is_not_reported_and_said_so_once_per_chunk(engine, plan, caplog):
    with caplog.at_level(logging.WARNING, logger="shotfarm.engines.command"):
        frames = render(engine, setup_for(plan(camera=CAMERA, no_ndc=True)), 1001, 1003)
    assert [f.camera for f in frames] == [None, None, None]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["sh010 frames 1001-1003: frame 1001: it has worldToCamera but no perspective worldToNDC, so no field of view; no camera reported"]


def test_object_positions_the_program_reports_come_back_with_each_frame(engine, plan):
    frame = render(engine, setup_for(plan(objects={"Hero": [1.0, 0.5, -2.0], "Partner": [3, 0, 0]})), 1001, 1001)[0]
    assert frame.objects == {"Hero": (1.0, 0.5, -2.0), "Partner": (3.0, 0.0, 0.0)}


@pytest.mark.parametrize("objects", ["not json", '{"Hero": [1, "two", 3]}', '{"Hero": [NaN, 0, 0]}', '["Hero"]', "{" + " " * 70_000 + "}"])
def test_a_damaged_or_oversized_object_report_is_ignored_not_raised(engine, plan, objects):
    frame = render(engine, setup_for(plan(objects=objects)), 1001, 1001)[0]
    assert frame.objects == {}


def test_the_program_runs_in_a_fresh_folder_under_the_scratch_folder_which_is_removed_after(engine, plan, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="shotfarm.engines.command"):
        render(engine, setup_for(plan()), 1001, 1001)
    line = next(r.getMessage() for r in caplog.records if "dcc: rendering" in r.getMessage())
    cwd = Path(line.split(" in ", 1)[1])
    assert cwd.parent == tmp_path / "scratch"
    assert not cwd.exists()


@pytest.mark.parametrize("layer", ["", "beauty.", "ViewLayer.Combined.", "rgba."])
def test_the_beauty_is_read_whatever_layer_the_program_names(engine, plan, layer):
    frame = render(engine, setup_for(plan(layer=layer, rgb=[0.5, 0.25, 0.125])), 1001, 1001)[0]
    np.testing.assert_allclose(frame.pixels[3, 3], [0.5, 0.25, 0.125], rtol=1e-6)
    assert frame.attributes["layer"] == (layer.rstrip(".") or "R,G,B")


def test_pixels_in_another_colour_space_are_converted_to_acescg(engine, plan):
    setup = setup_for(plan(rgb=[1.0, 0.0, 0.0]), colour_space="lin_rec709")
    frame = render(engine, setup, 1001, 1001)[0]
    np.testing.assert_allclose(frame.pixels[0, 0], REC709_RED_IN_ACESCG, atol=2e-4)
    assert frame.attributes["colour_space"] == "Linear Rec.709 (sRGB)"


def test_acescg_pixels_pass_through_untouched(engine, plan):
    frame = render(engine, setup_for(plan(rgb=[1.0, 0.0, 0.0]), colour_space="scene_linear"), 1001, 1001)[0]
    np.testing.assert_array_equal(frame.pixels[0, 0], np.float32([1.0, 0.0, 0.0]))
    assert frame.attributes["colour"] == "as written"


# -- failures ---------------------------------------------------------------


def test_a_frame_the_program_did_not_write_is_named_with_its_path(engine, plan):
    engine.load(setup_for(plan(skip=[1002])))
    chunk = engine.render_chunk(1001, 1003)
    assert next(chunk).frame == 1001
    with pytest.raises(FrameOutputError, match=r"frame 1002 \(.*/sh010\.1002\.exr\): the program wrote no file there"):
        next(chunk)


def test_a_program_that_exits_non_zero_fails_transiently_with_its_code_and_last_lines(engine, plan):
    with pytest.raises(CommandFailed) as failed:
        render(engine, setup_for(plan(exit=3, noise=80)))
    message = str(failed.value)
    assert not isinstance(failed.value, ValueError)  # transient: another attempt may succeed
    assert "sh010 frames 1001-1003" in message and "exited with code 3" in message
    assert "ERROR out of licences" in message and "noise line 79" in message
    assert "noise line 29" not in message  # only the last lines, not the whole log


def test_a_program_past_its_timeout_is_killed_with_its_children(engine, plan, tmp_path):
    pids = tmp_path / "pids"
    with pytest.raises(CommandTimedOut, match=r"timed out after 5 s") as failed:
        render(engine, setup_for(plan(hang=str(pids)), timeout_s=5))
    assert "waiting forever" in str(failed.value)
    program, child = (int(p) for p in pids.read_text().split())
    assert not alive(program) and not alive(child)


def test_processes_the_program_leaves_behind_are_killed_when_it_exits(engine, plan, tmp_path, caplog):
    pid_file = tmp_path / "straggler"
    with caplog.at_level(logging.WARNING, logger="shotfarm.engines.command"):
        render(engine, setup_for(plan(straggler=str(pid_file))), 1001, 1001)
    assert not alive(int(pid_file.read_text()))
    assert any("left processes running" in r.getMessage() for r in caplog.records)


def test_a_process_outside_the_programs_group_holding_its_output_does_not_hold_up_the_chunk(engine, plan, tmp_path, caplog):
    pid_file = tmp_path / "escapee"
    try:
        with caplog.at_level(logging.WARNING, logger="shotfarm.engines.command"):
            frames = render(engine, setup_for(plan(escapee=str(pid_file))), 1001, 1002)
        assert [f.frame for f in frames] == [1001, 1002]
        assert any("still holds the program's output" in r.getMessage() for r in caplog.records)
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGKILL)  # outside the group, so the engine cannot reach it


def test_the_program_output_reaches_the_log_line_by_line_prefixed_with_the_shot_and_frames(engine, plan, caplog):
    with caplog.at_level(logging.INFO, logger="shotfarm.engines.command"):
        render(engine, setup_for(plan()), 1001, 1002)
    lines = [r.getMessage() for r in caplog.records if r.name == "shotfarm.engines.command"]
    assert "sh010 frames 1001-1002: dcc: Saved frame 1001" in lines
    assert "sh010 frames 1001-1002: dcc: Saved frame 1002" in lines


def test_progress_redrawn_with_carriage_returns_is_a_line_per_redraw_and_a_huge_line_is_logged_in_pieces(engine, plan, caplog):
    with caplog.at_level(logging.INFO, logger="shotfarm.engines.command"):
        render(engine, setup_for(plan(progress_bar=True)), 1001, 1001)
    lines = [r.getMessage().removeprefix("sh010 frames 1001-1001: ") for r in caplog.records]
    assert [line for line in lines if line.startswith("rendering ")] == ["rendering 25%", "rendering 50%", "rendering 75%", "rendering 100%"]
    pieces = [line for line in lines if line.startswith("x")]
    assert "".join(pieces) == "x" * 10_000 and max(map(len, pieces)) == MAX_LINE


def test_a_frame_of_the_wrong_size_is_refused_naming_both_sizes(engine, plan):
    argv = (sys.executable, DCC, "{scene}", "{first}", "{last}", "{output}", "12", "6")
    with pytest.raises(FrameOutputError, match=r"frame 1001 .* is 12x6, the sequence renders 16x8"):
        render(engine, setup_for(plan(), argv=argv), 1001, 1001)


def test_a_chunk_before_load_or_backwards_is_refused(engine, plan):
    with pytest.raises(RuntimeError, match="load a shot"):
        list(engine.render_chunk(1, 2))
    engine.load(setup_for(plan()))
    with pytest.raises(ValueError, match="first <= last"):
        list(engine.render_chunk(5, 4))


# -- load: a shot that can never render is refused before any frame ------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((sys.executable, DCC, "{scene}", "{frame}", "{output}"), r"argv\[3\]: unknown placeholder \{frame\}"),
        ((sys.executable, DCC, "{scene}", "{first:04d}", "{output}"), r"argv\[3\]: placeholders take no format"),
        ((sys.executable, DCC, "{scene", "{output}"), r"argv\[2\]: .*brace|argv\[2\]: .*'\{'"),
        ((sys.executable, DCC, "{scene}", "{first}", "{last}"), r"\{output\} \(or \{output_f4\}, \{output_printf\}\) is required"),
        (("{scene}", "{output}"), r"argv\[0\]: the program is not a template"),
        (("no-such-dcc-9f3", "{output}"), r"argv\[0\]: the program 'no-such-dcc-9f3' is not found on PATH"),
        (("./bin/no-such-dcc", "{output}"), r"argv\[0\]: the program './bin/no-such-dcc' is not an executable file"),
    ],
)
def test_a_template_the_farm_cannot_run_is_refused_at_load_naming_the_argument(engine, plan, argv, message):
    with pytest.raises(ValueError, match=message) as refused:
        engine.load(setup_for(plan(), argv=argv))
    assert str(refused.value).startswith("scene.command.argv")


def test_a_missing_scene_file_is_refused_at_load(engine, tmp_path):
    with pytest.raises(ValueError, match=r"scene\.command\.file: no such file on this node: .*nowhere\.json"):
        engine.load(setup_for(tmp_path / "nowhere.json"))


@pytest.mark.parametrize(("space", "message"), [("Rec.709-ish", "is not a colour space"), ("Raw", "holds data, not light")])
def test_a_colour_space_the_farm_cannot_convert_is_refused_at_load(engine, plan, space, message):
    with pytest.raises(ValueError, match=r"scene\.command\.colour_space: .*" + message):
        engine.load(setup_for(plan(), colour_space=space))


def test_a_shot_without_a_command_scene_is_refused(engine):
    from pipelines.spec.loading import parse_sequence
    from pipelines.spec.setup import shot_setup
    from tests.builders import spec

    setup = shot_setup(parse_sequence(spec()), "sh010")
    with pytest.raises(ValueError, match="scene.command"):
        engine.load(setup)


def test_the_declaration_says_what_the_engine_reads_and_returns():
    assert INFO.name == "command" and INFO.why_unusable() is None
    assert "scene.command" in INFO.reads and set(INFO.returns) == {"pixels", "camera", "objects"}


def test_the_program_dies_with_its_node(plan, tmp_path):
    """A node killed outright (SIGKILL, no clean-up) takes the DCC it started with it."""
    pids = tmp_path / "pids"
    scene = plan(hang=str(pids))
    node = subprocess.Popen([sys.executable, "-c", NODE.format(repo=str(REPO), scene=str(scene), scratch=str(tmp_path / "scratch"))])
    try:
        _wait_for(pids.exists, node)
        program, child = (int(p) for p in pids.read_text().split())
        assert alive(program)
    finally:
        node.kill()
        node.wait()
    _wait_for(lambda: not alive(program), None)
    os.kill(child, signal.SIGKILL)  # what the program started is orphaned, not killed: the test cleans up after itself


REPO = Path(__file__).parents[3]
NODE = """
import sys; sys.path.insert(0, {repo!r})
from pathlib import Path
from pipelines.render.engines.base import EngineContext
from pipelines.render.engines.command import INFO
from tests.pipelines.render.test_command_engine import setup_for
engine = INFO.build(EngineContext(scratch=Path({scratch!r})))
engine.load(setup_for(Path({scene!r}), timeout_s=600))
list(engine.render_chunk(1001, 1001))
"""


def _wait_for(condition, node: subprocess.Popen | None) -> None:
    """Poll until `condition` holds; a node that exits first fails the test (bounded, not a timing assertion)."""
    for _ in range(1200):
        if condition():
            return
        if node is not None and node.poll() is not None:
            pytest.fail(f"the node exited with {node.returncode} before the program started")
        time.sleep(0.05)
    pytest.fail("gave up waiting after 60 s")


def test_a_file_that_says_it_holds_another_colour_space_than_the_spec_is_warned_about_once_per_chunk(engine, plan, caplog):
    scene = plan(interop="lin_rec709_scene")
    with caplog.at_level(logging.WARNING, logger="shotfarm.engines.command"):
        frames = render(engine, setup_for(scene), 1001, 1003)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "frame 1001 says it holds Linear Rec.709 (sRGB) (colorInteropID) but scene.command.colour_space is ACEScg" in warnings[0]
    np.testing.assert_allclose(frames[0].pixels[0, 0], [0.1, 0.2, 0.3], rtol=1e-6)  # the spec is what the pixels are read as


def test_a_file_that_agrees_with_the_spec_raises_no_warning(engine, plan, caplog):
    with caplog.at_level(logging.WARNING, logger="shotfarm.engines.command"):
        render(engine, setup_for(plan(interop="lin_rec709_scene"), colour_space="Linear Rec.709 (sRGB)"), 1001, 1001)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
