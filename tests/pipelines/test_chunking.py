"""Chunking: shots split into frame ranges of similar expected cost."""

from __future__ import annotations

from pipelines.chunking import plan_chunks
from pipelines.spec.loading import parse_sequence
from tests.builders import shot, spec


def test_chunks_cover_every_render_frame_once_in_timeline_order():
    seq = parse_sequence(spec(shot("sh020", 1011, 1030, handles=2), shot("sh010", 1001, 1010, handles=2)))
    chunks = plan_chunks(seq, chunk_frames=8)
    frames = [f for c in chunks for f in c.frames]
    assert frames == list(range(999, 1013)) + list(range(1009, 1033))
    assert [c.shot for c in chunks][0] == "sh010"


def test_chunks_of_a_shot_differ_in_length_by_at_most_one_frame():
    seq = parse_sequence(spec(shot("sh010", 1001, 1019)))
    lengths = [len(c.frames) for c in plan_chunks(seq, chunk_frames=8)]
    assert lengths == [7, 6, 6]


def test_a_shot_at_double_samples_gets_chunks_half_as_long_and_equal_cost():
    seq = parse_sequence(spec(shot("sh010", 1001, 1016), shot("sh020", 1017, 1032, samples=4), samples=2))
    chunks = plan_chunks(seq, chunk_frames=8)
    assert {len(c.frames) for c in chunks if c.shot == "sh010"} == {8}
    assert {len(c.frames) for c in chunks if c.shot == "sh020"} == {4}
    assert len({c.cost for c in chunks}) == 1


def test_chunk_ids_name_the_shot_and_range():
    seq = parse_sequence(spec(shot("sh010", 1001, 1004)))
    assert [c.chunk_id for c in plan_chunks(seq, chunk_frames=8)] == ["sh010.1001-1004"]
