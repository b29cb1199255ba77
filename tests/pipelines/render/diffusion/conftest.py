"""Tiny Wan models with random weights, built once per test session with the example's own builder."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[4]


def _builder():
    spec = importlib.util.spec_from_file_location("build_tiny_model", ROOT / "examples" / "generative" / "build_tiny_model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def text_to_video(tmp_path_factory) -> Path:
    from pipelines.render.engines.diffusion.model import offline

    offline()
    return _builder().build(tmp_path_factory.mktemp("wan") / "t2v")


@pytest.fixture(scope="session")
def image_to_video(tmp_path_factory) -> Path:
    from pipelines.render.engines.diffusion.model import offline

    offline()
    return _builder().build(tmp_path_factory.mktemp("wan") / "i2v", image_to_video=True)


@pytest.fixture(scope="session")
def conditioned(tmp_path_factory) -> Path:
    from pipelines.render.engines.diffusion.model import offline

    offline()
    return _builder().build(tmp_path_factory.mktemp("wan") / "ti2v", conditioned=True)
