"""The path tracer's random numbers: a hash of frame, sample, bounce and dimension."""

from __future__ import annotations

import pytest
import torch

from pipelines.render import sampler

SEED = 0x3F63C245BE227C11
CPU = torch.device("cpu")


def draw(count: int, seed: int = SEED, first: int = 0, depth: int = 0, dimensions: int = 7) -> torch.Tensor:
    return sampler.uniforms(torch.arange(count), sampler.key(seed, first, depth, dimensions, CPU))


def test_numbers_are_float32_in_zero_to_one_on_a_2_to_the_minus_24_grid() -> None:
    u = draw(100_000)
    assert u.shape == (7, 100_000) and u.dtype == torch.float32
    assert u.min() >= 0 and u.max() < 1
    assert torch.equal(u * 2**24, (u * 2**24).floor())


def test_numbers_are_uniform_in_mean_variance_and_histogram() -> None:
    u = draw(200_000, dimensions=3)
    assert u.mean().item() == pytest.approx(0.5, abs=2e-3)
    assert u.var().item() == pytest.approx(1 / 12, rel=1e-2)
    counts = torch.histc(u, bins=16, min=0, max=1)
    assert (counts / u.numel() - 1 / 16).abs().max() < 2e-3


def test_dimensions_and_neighbouring_samples_are_uncorrelated() -> None:
    u = draw(200_000)
    across = torch.corrcoef(u) - torch.eye(7)
    assert across.abs().max() < 0.01
    lagged = torch.corrcoef(torch.stack([u[0, :-1], u[0, 1:]]))[0, 1]
    assert lagged.abs() < 0.01


def test_a_number_depends_on_the_frames_sample_not_on_the_tile_that_draws_it() -> None:
    whole = draw(100, first=1000)
    assert torch.equal(draw(60, first=1040), whole[:, 40:])


def test_another_seed_bounce_or_sample_draws_other_numbers() -> None:
    base = draw(1000)
    for other in (draw(1000, seed=SEED + 1), draw(1000, depth=1), draw(1000, first=1000)):
        assert (base != other).float().mean() > 0.99
    assert (draw(1000, depth=sampler.CAMERA, dimensions=2) != base[:2]).float().mean() > 0.99


def test_the_numbers_are_pinned() -> None:
    # Pinned like the frame seed: changing the hash or the salts silently changes every frame.
    got = draw(2, dimensions=2) * 2**24
    assert got.to(torch.int64).tolist() == [[13701160, 7269722], [4702767, 5687952]]


def test_key_holds_the_first_sample_the_frames_key_and_a_salt_per_dimension_as_int32() -> None:
    key = sampler.key(SEED, 2**32 + 5, 0, 7, CPU)
    assert key.dtype == torch.int32 and key.shape == (9,)
    assert key[0].item() == 5  # sample indices wrap modulo 2^32, like the hash's lanes
    assert len(set(key[2:].tolist())) == 7
