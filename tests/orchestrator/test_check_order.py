"""The check order: the two boundary frames, and beside each a neighbour frame from the same chunk."""

from __future__ import annotations

from orchestrator.coordinator.orders import check_order
from orchestrator.core import events as ev
from orchestrator.core.evolve import evolve
from orchestrator.core.state import SequenceState
from tests.builders import SID, farm, planned, pool, sequence, shot, started, submitted


def checked(handles: int, chunk_frames: int, rendered: set[str] | None = None) -> SequenceState:
    """sh010 (1001-1008) cut to sh020 (1009-1012), its chunks rendered (those named in `rendered`, or all)."""
    seq = sequence(shot("sh010", 1001, 1008, handles=handles), shot("sh020", 1009, 1012, handles=handles))
    state = farm(pool("cpu-0", slots=3), submitted(seq), planned(seq, chunk_frames))
    for cid, chunk in list(state.sequences[SID].chunks.items()):
        if rendered is not None and cid not in rendered:
            continue
        frames = tuple(ev.FrameRecord(frame=f, key=f"k/{chunk.plan.shot}/{f:06d}.exr", digest=f"d{f}") for f in chunk.plan.frames)
        done = ev.ChunkRendered(
            at=3.0, sequence_id=SID, chunk_id=cid, attempt=1, node_id="cpu-0", gpu_class="cpu",
            frames=frames, node_seconds=1.0, cost_usd=0.0,
        )
        state = evolve(evolve(state, started(cid)), done)
    return state.sequences[SID]


def test_each_boundary_frame_comes_with_the_frame_beside_it_away_from_the_cut():
    order = check_order(checked(handles=1, chunk_frames=4), "sh010>sh020")
    assert (order.left_frame.frame, order.right_frame.frame) == (1008, 1009)
    assert order.left_neighbour is not None and order.left_neighbour.key == "k/sh010/001007.exr"
    assert order.right_neighbour is not None and order.right_neighbour.frame == 1010


def test_when_the_frame_away_from_the_cut_is_in_another_chunk_the_handle_frame_in_the_same_chunk_is_named():
    seq = checked(handles=2, chunk_frames=3)
    left, right = seq.chunk_holding("sh010", 1008), seq.chunk_holding("sh020", 1009)
    # The left boundary opens its chunk and the right one closes its chunk.
    assert left is not None and left.plan.frames.first == 1008
    assert right is not None and right.plan.frames.last == 1009
    order = check_order(seq, "sh010>sh020")
    assert (order.left_neighbour.frame, order.right_neighbour.frame) == (1009, 1008)


def test_a_frame_of_another_chunk_is_never_named_even_when_it_is_rendered():
    # One-frame chunks: whether the frame beside a boundary exists depends on which chunk finished first.
    seq = checked(handles=0, chunk_frames=1)
    assert seq.frame_record("sh010", 1007) is not None and seq.frame_record("sh020", 1010) is not None
    order = check_order(seq, "sh010>sh020")
    assert order.left_frame is not None and order.right_frame is not None
    assert order.left_neighbour is None and order.right_neighbour is None


def test_only_the_chunk_holding_the_boundary_needs_to_be_rendered():
    full = checked(handles=1, chunk_frames=4)
    holding = {full.chunk_holding("sh010", 1008).plan.chunk_id, full.chunk_holding("sh020", 1009).plan.chunk_id}
    order = check_order(checked(handles=1, chunk_frames=4, rendered=holding), "sh010>sh020")
    assert (order.left_neighbour.frame, order.right_neighbour.frame) == (1007, 1010)
