"""A studio's own engine, installed as a package, renders a shot: the plug-in contract end to end.

The test writes a tiny package declaring an engine in the `shotfarm.engines`
entry-point group, installs it with pip (offline, into a folder put on
PYTHONPATH), and drives the real `shotfarm` command line in subprocesses:
`shotfarm engines` lists it as usable, and `shotfarm render` renders a shot
whose spec names it, through real Ray render nodes, into real EXR frames.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipelines.exr import decode_frame
from tests.builders import shot, spec

pytestmark = pytest.mark.slow

COLOUR = (0.25, 0.5, 0.125)  # exact in half float, so the stored frames hold exactly these
PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "flatcolour-engine"
version = "0.1.0"

[project.entry-points."shotfarm.engines"]
flatcolour = "flatcolour_engine:INFO"

[tool.setuptools]
py-modules = ["flatcolour_engine"]
"""
MODULE = '''\
"""Renders every frame in one flat colour, given by the shot's engine options r, g and b."""

import os

import numpy as np

from pipelines.render.engines.base import PIXELS, EngineInfo, RenderedFrame


class FlatColour:
    name = "flatcolour"

    def __init__(self, context):
        self.setup = None
        self.scratch = context.scratch

    def load(self, setup):
        missing = [c for c in "rgb" if c not in setup.options]
        if missing:
            raise KeyError(f"flatcolour needs the options r, g and b; missing {missing}")
        self.rgb = np.array([float(setup.options[c]) for c in "rgb"], dtype=np.float32)
        self.setup = setup

    def render_chunk(self, first, last):
        width, height = self.setup.resolution
        for frame in range(first, last + 1):
            yield RenderedFrame(frame=frame, pixels=np.tile(self.rgb, (height, width, 1)), attributes={"version": "0.1.0"})

    def close(self):
        self.setup = None
        if os.environ.get("FLATCOLOUR_CLOSED"):  # the test reads which engines were closed, and where
            with open(os.environ["FLATCOLOUR_CLOSED"], "a") as log:
                log.write(f"{self.scratch}\\n")


INFO = EngineInfo(name="flatcolour", summary="One flat colour from the shot's options", build=FlatColour, returns=(PIXELS,))
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The plug-in package, pip-installed into a folder of its own."""
    root = tmp_path_factory.mktemp("plugin")
    package = root / "flatcolour-engine"
    package.mkdir()
    (package / "pyproject.toml").write_text(PYPROJECT)
    (package / "flatcolour_engine.py").write_text(MODULE)
    target = root / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(target), str(package)]
    done = subprocess.run(pip, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return target


def env_with(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])), "RAY_USAGE_STATS_ENABLED": "0"}


def test_shotfarm_engines_lists_the_installed_plug_in_as_usable_without_loading_torch_or_ray(site):
    code = (
        "import sys\nfrom orchestrator.interfaces.cli import main\ncode = main(['engines', '--output', 'json'])\n"
        "sys.stderr.write(repr(sorted(m for m in ('torch', 'ray') if m in sys.modules)))\nsys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env_with(site), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    listed = {e["name"]: e for e in json.loads(done.stdout)["engines"]}
    assert listed["flatcolour"]["usable"] and listed["flatcolour"]["why_not"] is None
    assert listed["flatcolour"]["entry_point"] == "flatcolour_engine:INFO"
    assert listed["pathtracer"]["usable"]
    assert done.stderr.endswith("[]")  # neither torch nor ray was imported


def test_shotfarm_engines_without_the_package_does_not_list_it(site):
    done = subprocess.run([sys.executable, "-m", "orchestrator.interfaces.cli", "engines"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "flatcolour" not in done.stdout and "pathtracer" in done.stdout


def test_a_shot_naming_the_plug_in_is_rendered_by_it_with_its_options(site, tmp_path):
    options = dict(zip("rgb", COLOUR))
    path = tmp_path / "flat.yaml"
    path.write_text(yaml.safe_dump(spec(shot("sh010", 1001, 1004, engine={"name": "flatcolour", "options": options}))))
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "orchestrator.interfaces.cli", "render", str(path), "--out", str(out), "--cpus", "1", "--chunk-frames", "4"]
    # A temp folder of its own (short: Ray puts its sockets under it) shows what the nodes left behind.
    temp = Path(tempfile.mkdtemp(prefix="sf"))
    try:
        closed = tmp_path / "closed.txt"
        env = env_with(site) | {"TMPDIR": str(temp), "FLATCOLOUR_CLOSED": str(closed)}
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stdout + done.stderr
        scratch = temp / f"shotfarm-scratch-{os.getuid()}"
        # The farm closed the engine its render node held (any other line would be an engine built outside the farm) ...
        assert [Path(line).parent.parent for line in closed.read_text().split()].count(scratch) == 1
        assert list(scratch.iterdir()) == []  # ... and no node left a scratch folder
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    frames = sorted((out / "demo" / "sq010" / "shots" / "sh010").rglob("*.exr"))
    assert [f.name for f in frames] == [f"{n:06d}.exr" for n in range(1001, 1005)]
    for f in frames:
        pixels, header = decode_frame(f.read_bytes())
        assert pixels.shape == (18, 32, 3) and np.array_equal(pixels, np.broadcast_to(np.float32(COLOUR), pixels.shape))
        assert header["shotfarm/engine"] == "flatcolour" and header["shotfarm/flatcolour.version"] == "0.1.0"
        assert "worldToCamera" not in header  # it reports no camera, so none is written
