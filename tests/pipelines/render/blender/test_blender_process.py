"""The warm Blender process: it crashes, hangs and dies with its node the way the farm needs."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pipelines.render.engines.base import EngineContext
from pipelines.render.engines.blender.engine import BlenderEngine
from pipelines.render.engines.blender.process import BlenderCrashed, BlenderError, BlenderProcess
from tests.pipelines.render.blender import support
from tests.pipelines.render.blender.support import setup

# A node that starts Blender and dies without closing it.
ORPHAN = """
import sys
from pathlib import Path
from pipelines.render.engines.blender.process import BlenderProcess
p = BlenderProcess(Path(sys.argv[1]))
p.request({"op": "ping"}, 120)
print(p.pid, flush=True)
sys.stdin.read()
"""


def _wait_gone(pid: int) -> bool:
    """Whether the process is gone within a generous deadline (liveness, not speed)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if support.gone(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_killed_blender_fails_the_next_chunk_as_transient_and_the_one_after_renders(engine, blend):
    engine.load(setup("sh010", blend))
    list(engine.render_chunk(1001, 1001))
    first = engine.process.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)

    # Found dead before the request is sent, or while waiting for its answer.
    with pytest.raises(BlenderCrashed, match=r"Blender \(pid \d+\) (died|exited).*SIGKILL") as crashed:
        list(engine.render_chunk(1002, 1002))
    assert not isinstance(crashed.value, ValueError | KeyError), "the farm must retry it, not fail the shot"
    (frame,) = engine.render_chunk(1002, 1002)
    assert engine.process.pid not in (None, first)
    assert frame.camera is not None and frame.frame == 1002


def test_a_hung_blender_is_killed_at_the_frame_deadline_and_replaced(blender_python, blend, tmp_path):
    engine = support.engine(tmp_path, blender_python, frame_timeout_s=2.0)
    try:
        engine.load(setup("sh010", blend))
        hung = engine.process.pid
        assert hung is not None
        os.kill(hung, signal.SIGSTOP)
        with pytest.raises(BlenderCrashed, match="did not answer"):
            list(engine.render_chunk(1001, 1001))
        assert support.gone(hung)
        engine.frame_timeout_s = 300.0
        (frame,) = engine.render_chunk(1001, 1001)
        assert frame.frame == 1001
    finally:
        engine.close()


def test_close_leaves_no_blender_behind_and_is_safe_twice(engine, blend):
    engine.load(setup("sh010", blend))
    pid = engine.process.pid
    assert pid is not None and not support.gone(pid)
    engine.close()
    engine.close()
    assert support.gone(pid)
    assert engine.process.pid is None


def test_blender_dies_with_the_node_that_started_it(blender_python):
    root = Path(__file__).resolve().parents[4]
    node = subprocess.Popen(
        [sys.executable, "-c", ORPHAN, str(blender_python)], cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert node.stdout is not None
        pid = int(node.stdout.readline())
        assert not support.gone(pid)
        node.kill()
        node.wait()
        assert _wait_gone(pid), f"Blender {pid} outlived its node"
    finally:
        if node.poll() is None:
            node.kill()
        node.wait()


@pytest.mark.parametrize(
    "script, why",
    [
        ("exit 0", "(died before|exited during) the request to ping"),
        ("while read line; do echo \"Saved: '/tmp/x.exr'\"; done", "with something that is not JSON"),
        ("exec cat", "is not a worker's answer"),  # echoes the request back
    ],
)
def test_a_program_that_is_not_the_worker_is_a_crash_naming_what_happened(script, why, tmp_path):
    program = tmp_path / "python"
    program.write_text(f"#!/bin/sh\n{script}\n")
    program.chmod(0o755)
    process = BlenderProcess(program)
    with pytest.raises(BlenderCrashed, match=why):
        process.request({"op": "ping"}, 30)
    assert process.pid is None


def test_a_missing_environment_says_how_to_make_it(tmp_path):
    process = BlenderProcess(tmp_path / "no-env" / "bin" / "python")
    with pytest.raises(BlenderCrashed, match="make blender"):
        process.request({"op": "ping"}, 30)


def test_an_unknown_request_is_refused_and_blender_keeps_serving(blender_python):
    process = BlenderProcess(blender_python)
    try:
        with pytest.raises(RuntimeError, match="unknown request 'paint'"):
            process.request({"op": "paint"}, 60)
        assert process.request({"op": "ping"}, 60)["blender"] == "5.0.1"
        assert process.generation == 1
    finally:
        process.close()


NVIDIA = Path("/dev/nvidia0").exists()


@pytest.mark.skipif(NVIDIA, reason="this machine has an NVIDIA GPU")
def test_a_cuda_node_without_a_gpu_is_a_retryable_error_naming_the_device(blender_python, blend, tmp_path):
    engine = BlenderEngine(EngineContext(device="cuda", scratch=tmp_path), python=blender_python)
    try:
        with pytest.raises(BlenderError, match="no CUDA device") as error:
            engine.load(setup("sh010", blend))
        assert not isinstance(error.value, ValueError | KeyError), "another node may have the GPU"
    finally:
        engine.close()


@pytest.mark.skipif(not NVIDIA, reason="needs an NVIDIA GPU")
def test_a_cuda_node_renders_on_its_gpu(blender_python, blend, tmp_path):
    engine = BlenderEngine(EngineContext(device="cuda", scratch=tmp_path), python=blender_python)
    try:
        engine.load(setup("sh010", blend))
        (frame,) = engine.render_chunk(1001, 1001)
    finally:
        engine.close()
    assert frame.pixels.shape == (36, 64, 3) and np.isfinite(frame.pixels).all() and frame.pixels.mean() > 0


def test_a_process_dropped_without_close_takes_blender_with_it(blender_python):
    process = BlenderProcess(blender_python)
    process.request({"op": "ping"}, 120)
    pid = process.pid
    assert pid is not None
    del process
    gc.collect()
    assert support.gone(pid)
