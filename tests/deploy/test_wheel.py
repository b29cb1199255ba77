"""The wheel is the product: built from the source, installed non-editable, it serves its web page.

A checkout runs from its own folders, so a file missing from the wheel (the
web page, its scripts) only shows once someone installs it. These tests build
the wheel from a copy of the sources, install that wheel alone into a fresh
virtual environment and run its `shotfarm` there.

The farm's dependencies (Ray, torch, OpenColorIO...) are not installed a
second time: the suite has no network, and they are not what is under test.
A .pth file in the new environment appends the project environment's
site-packages to sys.path. Only lines naming folders are read from it, so the
project's own editable install (a finder hook run by a .pth *inside* that
folder) stays switched off: `orchestrator` can only come from the wheel.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.api.support import TOKENS
from tests.serving import wait_until_healthy

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("orchestrator", "nodes", "pipelines")
WEB_ASSETS = ("orchestrator/web/index.html", "orchestrator/web/static/app.js", "orchestrator/web/static/app.css")


def _version() -> str:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the sources so that no stale build/ folder leaks into it."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(dist), str(src)],
        check=True, cwd=src, capture_output=True,
    )
    (found,) = dist.glob("shotfarm-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment holding only the wheel, with the project's dependencies on its path."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--clear", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "--quiet", str(wheel)],
        check=True, capture_output=True,
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    (Path(purelib) / "shotfarm-test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return env | {"RAY_USAGE_STATS_ENABLED": "0"} | extra


def test_the_wheel_carries_the_web_page_and_the_license(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(WEB_ASSETS) <= names
    assert f"shotfarm-{_version()}.dist-info/licenses/LICENSE" in names
    assert not any(n.startswith("tests/") for n in names)


def test_the_wheel_declares_its_license_and_authors(wheel):
    metadata = zipfile.ZipFile(wheel).read(f"shotfarm-{_version()}.dist-info/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "Author: shotfarm developers" in metadata


def test_the_installed_command_prints_the_package_version(installed, tmp_path):
    done = subprocess.run([str(installed / "bin" / "shotfarm"), "--version"], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"shotfarm {_version()}"


def test_the_installed_package_is_the_wheel_not_the_checkout(installed, tmp_path):
    code = "import orchestrator; print(orchestrator.__file__); print(orchestrator.__version__)"
    done = subprocess.run([str(installed / "bin" / "python"), "-c", code], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=120, check=True)
    where, version = done.stdout.split()
    assert Path(where).is_relative_to(installed) and version == _version()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_installed_farm_serves_its_web_page_and_static_files(installed, tmp_path):
    port = _free_port()
    argv = [str(installed / "bin" / "shotfarm"), "serve", "--out", str(tmp_path / "out"), "--port", str(port), "--cpus", "1"]
    env = _env(SHOTFARM_TOKENS=TOKENS, RAY_ADDRESS="local")
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(proc, f"{url}/healthz")
        with httpx.Client(base_url=url, timeout=30) as c:
            page, script, style = c.get("/"), c.get("/static/app.js"), c.get("/static/app.css")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert page.status_code == 200 and "<title>shotfarm</title>" in page.text
    assert script.status_code == 200 and script.text == (ROOT / "orchestrator/web/static/app.js").read_text()
    assert style.status_code == 200 and style.text == (ROOT / "orchestrator/web/static/app.css").read_text()
    assert proc.returncode == 0, err
