"""nodes.busy: a render node's scratch folder is marked while it renders, and the preStop wait reads the marks."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from nodes import busy
from nodes.actors.render import RenderNode as PlainRenderNode
from nodes.errors import Draining
from nodes.pool import RenderNode


def node_folder(root, pid: int, name: str = "h100-0"):
    folder = root / f"{name}-abc-{pid}"
    folder.mkdir(parents=True)
    return folder


def test_a_folder_is_marked_only_while_its_node_renders(tmp_path):
    folder = node_folder(tmp_path, 1)  # pid 1 is alive wherever the test runs
    assert busy.rendering_now(tmp_path) == []
    with busy.rendering(folder):
        assert busy.rendering_now(tmp_path) == [folder.name]
    assert busy.rendering_now(tmp_path) == []


def test_the_mark_goes_when_the_render_fails(tmp_path):
    folder = node_folder(tmp_path, 1)
    with pytest.raises(RuntimeError), busy.rendering(folder):
        raise RuntimeError("the engine failed")
    assert busy.rendering_now(tmp_path) == []


def test_a_mark_left_by_a_dead_node_process_does_not_count(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    (node_folder(tmp_path, int(dead.stdout)) / busy.MARK).touch()
    assert busy.rendering_now(tmp_path) == []
    assert busy.wait_idle(tmp_path, 0)


def test_the_wait_ends_when_the_last_chunk_is_done(tmp_path):
    folder = node_folder(tmp_path, 1)
    started, done = threading.Event(), threading.Event()

    def render() -> None:
        with busy.rendering(folder):
            started.set()
            done.wait(30)

    renderer = threading.Thread(target=render)
    renderer.start()
    started.wait(30)
    assert not busy.wait_idle(tmp_path, 0), "a node is rendering"
    done.set()
    assert busy.wait_idle(tmp_path, 60, poll=0.01)
    renderer.join()


def test_the_command_says_what_still_renders_when_the_wait_runs_out(tmp_path, capsys):
    folder = node_folder(tmp_path, 1)
    with busy.rendering(folder):
        assert busy.main(["--wait", "0", "--root", str(tmp_path)]) == 1
    assert folder.name in capsys.readouterr().err
    assert busy.main(["--wait", "0", "--root", str(tmp_path)]) == 0


def test_render_nodes_keep_their_scratch_where_the_wait_looks(tmp_path):
    node = PlainRenderNode("h100-0", str(tmp_path), "cpu")
    try:
        assert node.scratch.parent == busy.scratch_root()
    finally:
        node.close()


def test_the_render_node_ray_hosts_is_marked_while_it_renders_a_chunk(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(PlainRenderNode, "render", lambda self, order: seen.append(busy.rendering_now(self.scratch.parent)))
    monkeypatch.setattr(busy.tempfile, "gettempdir", lambda: str(tmp_path))  # no other node on this machine counts
    node = RenderNode("h100-0", str(tmp_path), "cpu")
    try:
        node.render(None)  # type: ignore[arg-type]  # the engine's part is replaced above
        assert seen == [[node.scratch.name]]
        assert node.scratch.name not in busy.rendering_now(node.scratch.parent)
    finally:
        node.close()


def test_a_machine_drains_once_marked_and_takes_chunks_again_once_resumed(tmp_path):
    root = tmp_path / "scratch"
    assert not busy.draining(root)
    busy.drain(root)
    assert busy.draining(root)
    busy.resume(root)
    assert not busy.draining(root)
    assert busy.main(["--resume", "--root", str(root)]) == 0, "resuming twice is harmless"


def test_the_prestop_wait_marks_the_machine_draining_before_it_waits(tmp_path):
    folder = node_folder(tmp_path, 1)
    with busy.rendering(folder):
        assert busy.main(["--wait", "0", "--root", str(tmp_path)]) == 1
        assert busy.draining(tmp_path), "marked while the chunk still renders"


def test_the_wait_ends_only_after_a_quiet_spell_so_a_chunk_on_its_way_is_seen(tmp_path):
    folder = node_folder(tmp_path, 1)
    first_started, first_done, second_sent, second_done = (threading.Event() for _ in range(4))
    ended: list[bool] = []

    def renders() -> None:
        with busy.rendering(folder):
            first_started.set()
            first_done.wait(30)
        # The farm sends the next chunk a moment after the first is done.
        second_sent.wait(30)
        with busy.rendering(folder):
            second_done.wait(30)

    renderer = threading.Thread(target=renders)
    renderer.start()
    first_started.wait(30)
    waiter = threading.Thread(target=lambda: ended.append(busy.wait_idle(tmp_path, 60, poll=0.01, quiet=2.0)))
    waiter.start()
    first_done.set()
    second_sent.set()
    waiter.join(0.2)
    assert waiter.is_alive(), "the wait goes on through the gap between two chunks"
    second_done.set()
    waiter.join(30)
    renderer.join()
    assert ended == [True]


def test_the_render_node_ray_hosts_refuses_a_chunk_on_a_draining_machine(tmp_path, monkeypatch):
    rendered = []
    monkeypatch.setattr(PlainRenderNode, "render", lambda self, order: rendered.append(order))
    monkeypatch.setattr(busy.tempfile, "gettempdir", lambda: str(tmp_path))
    node = RenderNode("h100-0", str(tmp_path), "cpu")
    try:
        assert not node.draining()
        busy.drain(node.scratch.parent)
        assert node.draining()
        order = type("Order", (), {"chunk_id": "sh010.1001-1004"})()
        with pytest.raises(Draining, match="sh010.1001-1004"):
            node.render(order)  # type: ignore[arg-type]  # only the chunk id is read before the refusal
        assert rendered == [], "the engine never started"
        assert busy.rendering_now(node.scratch.parent) == [], "the refusal leaves no render mark"
        busy.resume(node.scratch.parent)
        node.render(order)  # type: ignore[arg-type]
        assert rendered == [order]
    finally:
        node.close()
