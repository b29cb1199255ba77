"""Render nodes as Ray hosts them: stopping them closes their engines and removes their scratch folders."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import ray

from nodes.pool import NodeSlot, start_render_nodes, stop_render_nodes
from nodes.protocol import ChunkOrder
from pipelines.spec.setup import shot_setup
from tests.builders import SID, sequence, shot


def test_stopping_render_nodes_closes_them_and_their_scratch_goes(ray_session, tmp_path):
    setup = shot_setup(sequence(shot("sh010", 1001, 1001)), "sh010")
    order = ChunkOrder(
        sequence_id=SID, chunk_id="c1", attempt=1, setup=setup, first=1001, last=1001, key_prefix="demo/sq010/shots/sh010/v1/a1",
        fps=Fraction(24), start_timecode="01:00:00:00", timeline_first=1001,
    )  # fmt: skip
    slots = [NodeSlot(f"cpu-{i}", "cpu", "cpu", num_cpus=0.5) for i in range(2)]
    nodes = start_render_nodes(slots, str(tmp_path), threads=1, timeout=60)
    ray.get(nodes["cpu-0"].render.remote(order), timeout=120)  # one node holds a loaded engine, the other none
    scratch = {n: Path(ray.get(h.__ray_call__.remote(lambda node: str(node.scratch)), timeout=30)) for n, h in nodes.items()}
    assert all(p.is_dir() for p in scratch.values()) and (scratch["cpu-0"] / "pathtracer").is_dir()
    stop_render_nodes(nodes, timeout=30)
    assert not any(p.exists() for p in scratch.values())
