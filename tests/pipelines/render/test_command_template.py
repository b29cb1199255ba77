"""A DCC's argv template: checked against the node once, filled per chunk."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pipelines.render.engines.command.template import Chunk, parse

CHUNK = Chunk(first=1001, last=1008, output="/scratch/c/sh010.####.exr", width=64, height=36, samples=4, threads=2)


@pytest.fixture
def scene(tmp_path) -> Path:
    path = tmp_path / "shot.usd"
    path.write_text("#usda 1.0\n")
    return path


def test_every_placeholder_is_filled_per_chunk(scene):
    argv = (sys.executable, "{scene}", "{first}-{last}", "{count}", "{output}", "{output_f4}", "{output_printf}", "{width}x{height}", "{samples}", "{threads}")
    line = parse(argv, str(scene))
    assert line.argv(CHUNK) == [
        line.program, str(scene), "1001-1008", "8", "/scratch/c/sh010.####.exr", "/scratch/c/sh010.$F4.exr", "/scratch/c/sh010.%04d.exr", "64x36", "4", "2",
    ]


def test_doubled_braces_are_literal_braces(scene):
    line = parse((sys.executable, "--expr={{frame: {first}}}", "{output}"), str(scene))
    assert line.argv(CHUNK)[1] == "--expr={frame: 1001}"


def test_relative_paths_are_made_absolute_against_the_nodes_working_directory(scene, tmp_path):
    (tmp_path / "pipe").mkdir()
    (tmp_path / "pipe" / "render.py").write_text("")
    line = parse((sys.executable, "pipe/render.py", "--flag", "Scene", "{output}"), scene.name, cwd=tmp_path)
    assert line.argv(CHUNK)[1:4] == [str(tmp_path / "pipe" / "render.py"), "--flag", "Scene"]  # words that name nothing stay words
    assert line.scene == str(scene)


def test_a_program_on_path_is_found_and_a_venv_python_is_not_resolved_through_its_symlink(scene):
    assert parse(("sh", "{output}"), str(scene)).program.endswith("/sh")
    venv_python = Path(sys.executable)
    assert parse((str(venv_python), "{output}"), str(scene)).program == str(venv_python.absolute())


def test_the_subject_is_filled_and_a_template_that_needs_one_without_it_is_refused(scene):
    assert parse((sys.executable, "--watch", "{subject}", "{output}"), str(scene), subject="Hero").argv(CHUNK)[1:3] == ["--watch", "Hero"]
    with pytest.raises(ValueError, match=r"argv\[2\]: uses \{subject\}, but scene.command.subject names no object"):
        parse((sys.executable, "--watch", "{subject}", "{output}"), str(scene))
