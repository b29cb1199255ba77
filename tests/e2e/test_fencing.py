"""Fencing: two nodes render the same chunk; the master uses exactly the accepted attempt's frames.

Attempt 1 is given up (timed out) while its node keeps rendering; attempt 2
goes to another node and is accepted; attempt 1's result arrives late. The
real RenderNode and MasterNode classes do the work on a real store, the
orders are built by the farm's own code (orchestrator.coordinator.orders), and the events are folded
through the pure core, so every step is the one the farm takes, minus Ray.
"""

from __future__ import annotations

import numpy as np
import pytest

from nodes.actors.master import MasterNode
from nodes.actors.render import RenderNode
from nodes.protocol import ChunkOrder, ChunkResult
from nodes.storage.base import get_verified, sha256
from nodes.storage.local import LocalStore
from orchestrator.coordinator.orders import chunk_order, segment_order
from orchestrator.core import events as ev
from orchestrator.core.commands import Dispatch
from orchestrator.core.decide import decide
from orchestrator.core.evolve import evolve
from orchestrator.core.status import ChunkStatus
from orchestrator.eventlog.sqlite import SqliteEventLog
from orchestrator.eventlog.verify import verify
from pipelines.exr import decode_frame
from tests.builders import SID, failed, farm, planned, pool, sequence, shot, started

SEQ = sequence(shot("sh010", 1001, 1004))


def rendered_event(result: ChunkResult, node: str) -> ev.ChunkRendered:
    frames = tuple(ev.FrameRecord(frame=f.frame, key=f.key, digest=f.digest) for f in result.frames)
    return ev.ChunkRendered(
        at=9.0, sequence_id=SID, chunk_id=result.chunk_id, attempt=result.attempt, node_id=node,
        gpu_class="cpu", frames=frames, node_seconds=result.seconds, cost_usd=0.0,
    )  # fmt: skip


@pytest.mark.parametrize("late_arrives", ["after the accepted result", "before the accepted result"])
def test_a_superseded_attempt_never_reaches_the_master(tmp_path, late_arrives):
    store = LocalStore(tmp_path)
    events: list[ev.Event] = [pool("cpu-0", "cpu-1"), ev.SequenceSubmitted(
        at=0.0, sequence_id=SID, spec=SEQ.model_dump(mode="json"), spec_digest="d"
    ), planned(SEQ, chunk_frames=8)]
    state = farm(*events)
    [chunk_id] = state.sequences[SID].chunks
    # Attempt 1 on cpu-0 times out; its node is not told and keeps rendering.
    for e in (
        started(chunk_id, "cpu-0", attempt=1),
        failed(chunk_id, attempt=1, node="cpu-0"),
        ev.ChunkQueued(at=4.0, sequence_id=SID, chunk_id=chunk_id, reason="retry after failure"),
        started(chunk_id, "cpu-1", attempt=2),
    ):
        events.append(e)
        state = evolve(state, e)

    seq = state.sequences[SID]
    order2 = chunk_order(seq, Dispatch(SID, chunk_id, "cpu-1", 2), "pathtracer")
    order1 = chunk_order(seq, Dispatch(SID, chunk_id, "cpu-0", 1), "pathtracer")
    # The two renders must be told apart by their bytes: the slow node's differs in its noise seed.
    order1 = ChunkOrder.model_validate(
        {**order1.model_dump(), "setup": order1.setup.model_copy(update={"seed": order1.setup.seed + 1})}
    )
    second = RenderNode("cpu-1", str(tmp_path)).render(order2)
    late = RenderNode("cpu-0", str(tmp_path)).render(order1)  # written after attempt 2's frames
    accepted, stale = rendered_event(second, "cpu-1"), rendered_event(late, "cpu-0")

    arrivals = [accepted, stale] if late_arrives == "after the accepted result" else [stale, accepted]
    for e in arrivals:
        before = state
        events.append(e)
        state = evolve(state, e)
        if e is stale:
            assert state.sequences == before.sequences  # fenced: nothing about the chunk changes
            assert decide(state, e) == []  # and nothing is done because of it
    chunk = state.sequences[SID].chunks[chunk_id]
    assert chunk.status is ChunkStatus.RENDERED and chunk.attempt == 2
    assert chunk.frames == accepted.frames
    assert all(not n.running for n in state.nodes.values())  # the slow node's slot is free again

    # Both attempts are in the store, apart, and the late one overwrote nothing.
    a1 = {f.frame: f for f in stale.frames}
    a2 = {f.frame: f for f in accepted.frames}
    assert sorted(a1) == sorted(a2) == [1001, 1002, 1003, 1004]
    for frame in a2:
        assert a1[frame].key.split("/")[-2:] == ["a1", f"{frame:06d}.exr"]
        assert a2[frame].key.split("/")[-2:] == ["a2", f"{frame:06d}.exr"]
        assert a1[frame].digest != a2[frame].digest
        get_verified(store, a1[frame].key, a1[frame].digest)
        get_verified(store, a2[frame].key, a2[frame].digest)

    # The master, from the order the coordinator builds, uses attempt 2's frames and only those.
    segment = segment_order(state.sequences[SID], "sh010")
    result = MasterNode(str(tmp_path)).stitch_segment(segment)
    assert [f.frame for f in result.frames] == [1001, 1002, 1003, 1004]
    for f in result.frames:
        assert sha256(store.get(f.key)) == f.digest
        pixels, header = decode_frame(store.get(f.key))
        assert header["shotfarm/source_digest"] == a2[f.frame].digest
        assert np.array_equal(pixels, decode_frame(store.get(a2[f.frame].key))[0])
        assert not np.array_equal(pixels, decode_frame(store.get(a1[f.frame].key))[0])

    # The log of all this is consistent: the fenced render recorded keys of its own.
    log = SqliteEventLog(tmp_path / "shotfarm.db")
    for e in events:
        log.append(e)
    log.close()
    report = verify(tmp_path / "shotfarm.db")
    assert report.ok and report.findings == [], report.lines()
    assert report.sequences[0].chunks_rendered == 1
