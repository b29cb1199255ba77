from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.render.engines.blender.engine import BlenderEngine
from tests.pipelines.render.blender import support


@pytest.fixture(scope="session")
def blender_python() -> Path:
    return support.blender_env()


@pytest.fixture
def blend(blender_python: Path, tmp_path: Path) -> Path:
    return support.set_copy(blender_python, tmp_path)


@pytest.fixture
def engine(blender_python: Path, tmp_path: Path) -> Iterator[BlenderEngine]:
    e = support.engine(tmp_path, blender_python)
    yield e
    e.close()
