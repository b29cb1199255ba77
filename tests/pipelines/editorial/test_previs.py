"""Previs cut detection: hard cuts and dissolves found in a movie, each within one frame."""

from __future__ import annotations

import io
from fractions import Fraction

import pytest
import torch

from pipelines.editorial.cut import EditorialError
from pipelines.editorial.mapping import build_sequence, parse_mapping
from pipelines.editorial.movie import read_movie
from pipelines.editorial.previs import Transition, detect, previs_cut
from tests.pipelines.editorial.support import mapping
from tests.pipelines.editorial.synthetic import HEIGHT, WIDTH, Plan, encode, frames, texture

PLANS = {
    "cuts and a dissolve": Plan(lengths=(30, 25, 40, 30), dissolves=(0, 12, 0)),
    "short and long dissolves": Plan(lengths=(20, 30, 24, 30, 20), dissolves=(6, 0, 2, 24)),
    "a one-frame dissolve": Plan(lengths=(40, 40, 40), dissolves=(16, 1)),
    "very long dissolves": Plan(lengths=(60, 60, 50), dissolves=(40, 30)),
    "quick cutting": Plan(lengths=(12, 12, 12, 12), dissolves=(0, 4, 0)),
}


def small(movie: torch.Tensor) -> torch.Tensor:
    """The movie as read_movie hands it over: 64 wide, uint8."""
    x = torch.nn.functional.interpolate(movie.permute(0, 3, 1, 2), size=(36, 64), mode="area")
    return (x.permute(0, 2, 3, 1).clamp(0, 1) * 255).round().to(torch.uint8)


def assert_found(found: list[Transition], plan: Plan) -> None:
    assert len(found) == len(plan.cut_frames), found
    for t, frame, dissolve in zip(found, plan.cut_frames, plan.dissolves):
        assert abs(t.frame - frame) <= 1, (t, frame)
        assert t.kind == ("dissolve" if dissolve else "cut"), (t, dissolve)


@pytest.mark.parametrize("name", PLANS)
def test_every_cut_and_dissolve_is_found_within_one_frame(name):
    plan = PLANS[name]
    assert_found(detect(small(frames(plan))), plan)


def test_dissolve_lengths_are_measured():
    found = detect(small(frames(PLANS["cuts and a dissolve"])))
    assert abs(found[1].length - 12) <= 2


def test_a_single_panning_shot_has_no_transitions():
    assert detect(small(texture(7, 120, speed=1.0))) == []


def test_a_still_shot_has_no_transitions():
    still = texture(3, 1).repeat(60, 1, 1, 1)
    assert detect(small(still)) == []


def test_an_encoded_movie_read_back_with_pyav_gives_the_cuts_back():
    plan = PLANS["cuts and a dissolve"]
    movie = read_movie(io.BytesIO(encode(frames(plan))), "previs.mp4")
    assert movie.frames.shape[0] == sum(plan.lengths)
    assert (movie.width, movie.height, movie.fps) == (WIDTH, HEIGHT, Fraction(24))
    assert_found(detect(movie.frames), plan)


def test_proposed_shots_cover_the_movie_and_a_mapping_makes_them_a_sequence():
    plan = PLANS["cuts and a dissolve"]
    found = detect(small(frames(plan)))
    cut = previs_cut(found, sum(plan.lengths), Fraction(24), "previs.mp4")
    assert cut.clips[0].record.first == 0 and cut.clips[-1].record.last == sum(plan.lengths) - 1
    assert all(a.record.last + 1 == b.record.first for a, b in zip(cut.clips, cut.clips[1:]))
    spec = build_sequence(cut, parse_mapping(mapping())).spec
    assert [s.name for s in spec.timeline] == ["sh010", "sh020", "sh030", "sh040"]
    assert spec.timeline[2].dissolve == found[1].length


def test_transitions_that_would_leave_a_shot_empty_are_dropped():
    found = [Transition(kind="cut", frame=f, change=0.5) for f in (0, 10, 10, 25, 40)]
    cut = previs_cut(found, 30, Fraction(24), "m.mp4")
    assert [(c.record.first, c.record.last) for c in cut.clips] == [(0, 9), (10, 24), (25, 29)]


@pytest.mark.parametrize("data, message", [(b"", "not a movie"), (b"\x00" * 4096, "not a movie")])
def test_what_is_not_a_movie_is_refused_naming_it(data, message):
    with pytest.raises(EditorialError) as e:
        read_movie(io.BytesIO(data), "upload.mov")
    assert e.value.source == "upload.mov" and message in e.value.render()


def test_a_movie_longer_than_allowed_is_refused():
    data = encode(frames(PLANS["quick cutting"]))
    with pytest.raises(EditorialError, match="longer than 10 frames"):
        read_movie(io.BytesIO(data), "long.mp4", max_frames=10)
