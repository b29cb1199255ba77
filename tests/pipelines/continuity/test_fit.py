"""Frame statistics and the match grade: each statistic answers one kind of grade, and the fit inverts them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pipelines.color.cdl import CDL
from pipelines.continuity.fit import (
    SAMPLE_PIXELS,
    Targets,
    as_pixels,
    chromaticity,
    fit_grade,
    frame_stats,
    reinhard_cdl,
)
from tests.pipelines.continuity.synthetic import frame


def stats_of(px: np.ndarray):
    s = frame_stats(as_pixels(px))
    assert s is not None
    return s


def test_a_gain_of_one_stop_moves_the_key_by_exactly_one_and_nothing_else():
    px = frame(1)
    a, b = stats_of(px), stats_of(px * np.float32(2.0))
    assert b.key - a.key == pytest.approx(1.0, abs=1e-4)
    assert b.spread == pytest.approx(a.spread, rel=1e-4)
    assert b.chroma == pytest.approx(a.chroma, rel=1e-4)
    assert chromaticity(b.colour) == pytest.approx(chromaticity(a.colour), rel=1e-4)


def test_a_cdl_power_scales_the_log_spread_by_the_power():
    px = frame(2)
    graded = CDL(power=(1.3, 1.3, 1.3)).apply(px)
    assert stats_of(graded).spread / stats_of(px).spread == pytest.approx(1.3, rel=0.02)


def test_cdl_saturation_scales_chroma_and_a_colour_cast_barely_moves_it():
    px = frame(3)
    base = stats_of(px).chroma
    assert stats_of(CDL(saturation=1.4).apply(px)).chroma / base == pytest.approx(1.4, rel=0.05)
    cast = px * np.array([1.3, 1.0, 0.7], dtype=np.float32)
    assert stats_of(cast).chroma / base == pytest.approx(1.0, abs=0.05)


def test_highlights_do_not_vote_on_the_average_colour():
    px = frame(4)
    lamp = px.copy()
    lamp[:4, :4] = np.array([400.0, 150.0, 20.0], dtype=np.float32)  # an orange practical in shot
    assert stats_of(lamp).colour == pytest.approx(stats_of(px).colour, rel=0.02)


def test_black_pixels_are_left_out_of_the_log_statistics():
    px = frame(5)
    holed = px.copy()
    holed[::2, ::2] = 0.0
    assert stats_of(holed).key == pytest.approx(stats_of(px).key, abs=0.05)


def test_a_black_frame_has_no_statistics():
    assert frame_stats(as_pixels(np.zeros((8, 8, 3), np.float32))) is None


def test_big_frames_are_sampled_on_a_grid_to_at_most_sample_pixels():
    big = np.ones((1080, 1920, 3), np.float32)
    assert as_pixels(big).shape[0] <= SAMPLE_PIXELS
    assert as_pixels(np.ones((10, 10, 3), np.float32)).shape == (100, 3)


def test_sampling_changes_the_statistics_of_a_1080p_frame_by_far_less_than_any_threshold():
    big = np.kron(frame(6), np.ones((20, 20, 1), np.float32))  # 1080x1920
    big *= np.exp(np.random.default_rng(0).normal(0, 0.05, big.shape)).astype(np.float32)
    full = frame_stats(torch.from_numpy(big.reshape(-1, 3)))
    sampled = frame_stats(as_pixels(big))
    assert full is not None and sampled is not None
    assert sampled.key == pytest.approx(full.key, abs=0.01)
    assert sampled.spread == pytest.approx(full.spread, rel=0.01)


def test_reinhard_in_log_space_is_a_cdl_with_zero_offset():
    # The notes' identity: matching log mean and std per channel is power a, slope 2**(b/a).
    px = frame(7)
    target = CDL(slope=(0.6, 0.6, 0.6), power=(1.2, 1.2, 1.2)).apply(px)
    cdl = reinhard_cdl(stats_of(target), stats_of(px))
    assert cdl.offset == (0.0, 0.0, 0.0)
    assert cdl.power[0] == pytest.approx(1.2, rel=0.02)
    assert cdl.slope[0] == pytest.approx(0.6, rel=0.03)


def test_fit_recovers_a_per_channel_regrade_like_the_notes_example():
    # The notes: a shot re-graded by x(2.2, 2.0, 1.7) is matched back by slope (0.4545, 0.5, 0.5882).
    left = frame(8)
    right = left * np.array([2.2, 2.0, 1.7], dtype=np.float32)
    s = stats_of(left)
    cdl = fit_grade(as_pixels(right), Targets(key=s.key, spread=s.spread, colour=s.colour, chroma=s.chroma))
    assert cdl.slope == pytest.approx((1 / 2.2, 1 / 2.0, 1 / 1.7), rel=0.01)
    assert cdl.power == pytest.approx((1.0, 1.0, 1.0), abs=0.01)
    assert cdl.saturation == pytest.approx(1.0, abs=0.02)
    assert cdl.offset == (0.0, 0.0, 0.0)


def test_fit_lands_every_statistic_on_its_target():
    right = frame(9)
    targets = Targets(key=-1.0, spread=1.5, colour=(1.2, 1.0, 0.8), chroma=0.2)
    graded = stats_of(fit_grade(as_pixels(right), targets).apply(right))
    assert graded.key == pytest.approx(-1.0, abs=0.01)
    assert graded.spread == pytest.approx(1.5, rel=0.01)
    assert chromaticity(graded.colour) == pytest.approx(chromaticity((1.2, 1.0, 0.8)), rel=0.01)
    assert graded.chroma == pytest.approx(0.2, rel=0.02)


def test_fit_holds_what_it_is_not_asked_to_move_even_when_starting_from_a_grade():
    right = frame(10)
    start = CDL(slope=(1.5, 1.4, 1.3), saturation=1.2)
    now = stats_of(start.apply(right))
    # Only contrast moves; a power pivots on 1.0, so key and saturation must be re-held.
    targets = Targets(key=now.key, spread=now.spread * 1.4, colour=now.colour, chroma=now.chroma)
    graded = stats_of(fit_grade(as_pixels(right), targets, start=start).apply(right))
    assert graded.spread == pytest.approx(now.spread * 1.4, rel=0.01)
    assert graded.key == pytest.approx(now.key, abs=0.01)
    assert graded.chroma == pytest.approx(now.chroma, rel=0.02)
    assert chromaticity(graded.colour) == pytest.approx(chromaticity(now.colour), rel=0.01)


def test_fit_keeps_the_grade_offsets_and_returns_the_start_for_an_unmeasurable_frame():
    start = CDL(offset=(0.01, 0.0, 0.0))
    dark = np.zeros((4, 4, 3), np.float32)
    assert fit_grade(as_pixels(dark), Targets(0.0, 1.0, (1, 1, 1), 0.1), start=start) == start
    fitted = fit_grade(as_pixels(frame(11)), Targets(-1.0, 1.0, (1, 1, 1), 0.2), start=start)
    assert fitted.offset == start.offset


def test_statistics_are_the_same_on_cuda_when_there_is_one():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    px = frame(12)
    cpu, gpu = frame_stats(as_pixels(px)), frame_stats(as_pixels(px, "cuda"))
    assert cpu is not None and gpu is not None
    assert math.isclose(cpu.key, gpu.key, abs_tol=1e-4) and math.isclose(cpu.spread, gpu.spread, rel_tol=1e-4)
