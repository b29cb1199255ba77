"""The example set and shot setups the Blender engine tests render, at 64x36 and 4 samples."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pipelines.render.engines.base import EngineContext
from pipelines.render.engines.blender.engine import BlenderEngine
from pipelines.render.engines.blender.process import blender_python
from pipelines.spec.loading import load_sequence
from pipelines.spec.setup import ShotSetup, shot_setup

ROOT = Path(__file__).resolve().parents[4]
EXAMPLE = ROOT / "examples" / "blender"
SIZE, SAMPLES = (64, 36), 4

# Where build_scene.py puts things, in Blender's world (Z up) and the farm's (Y up).
CAM_A_BLENDER, CAM_A_AIM_BLENDER, CAM_A_LENS = (0.5, -9.0, 2.2), (0.5, 0.0, 0.6), 35.0
CAM_A = (0.5, 2.2, 9.0)
CAM_A_AIM = (0.5, 0.6, 0.0)
CAM_C = (1.5, 1.4, -5.0)
HERO_AT_FRAME_1 = (-2.0, 0.5, 0.0)
PARTNER = (3.5, 0.4, 0.0)


def blender_env() -> Path:
    """The Blender environment's Python; its absence skips here and fails in CI (make test builds it)."""
    python = blender_python()
    if python is None or not python.is_file():
        why = "the Blender environment (.venv-blender) is missing; run `make blender`"
        if os.environ.get("CI"):
            pytest.fail(f"{why}: CI must build it")
        pytest.skip(why)
    return python


def set_copy(python: Path, folder: Path) -> Path:
    """A private copy of the example .blend (built by build_scene.py when the checkout has none)."""
    out = folder / "set.blend"
    if (EXAMPLE / "set.blend").is_file():
        shutil.copyfile(EXAMPLE / "set.blend", out)
    else:
        subprocess.run([str(python), str(EXAMPLE / "build_scene.py"), str(out)], check=True, capture_output=True, timeout=300)
    return out


def setup(shot: str, blend: Path | str, **blender: Any) -> ShotSetup:
    """A shot of examples/blender/sequence.yaml at test size, reading `blend`, with blender.* overrides."""
    sequence = load_sequence(EXAMPLE / "sequence.yaml").with_quality(SIZE, SAMPLES)
    base = shot_setup(sequence, shot)
    assert base.scene.blend is not None and base.blender is not None
    scene = base.scene.model_copy(update={"blend": base.scene.blend.model_copy(update={"file": str(blend)})})
    return base.model_copy(update={"scene": scene, "blender": base.blender.model_copy(update=blender)})


def engine(tmp_path: Path, python: Path, **kw: Any) -> BlenderEngine:
    return BlenderEngine(EngineContext(scratch=tmp_path / "scratch"), python=python, **kw)


def gone(pid: int) -> bool:
    """The process no longer runs (reaped, or a zombie waiting for its new parent)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")
