"""Folding CDL chains: a folded chain grades every input exactly as the chain did, negatives included."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.color.cdl import CDL
from pipelines.color.compose import compose

# Scene-linear pixels: blacks below 0 (out-of-gamut ACEScg), mid-greys, HDR highlights.
PIXELS = np.random.default_rng(7).uniform(-0.5, 6.0, (4096, 3))


def graded(chain: tuple[CDL, ...], rgb: np.ndarray = PIXELS) -> np.ndarray:
    for cdl in chain:
        rgb = cdl.apply(rgb)
    return rgb


def assert_grades_alike(chain: tuple[CDL, ...], folded: tuple[CDL, ...]) -> None:
    np.testing.assert_allclose(graded(folded), graded(chain), rtol=1e-9, atol=1e-12)


def test_an_empty_or_identity_chain_folds_to_nothing():
    assert compose(()) == ()
    assert compose((CDL(), CDL())) == ()


def test_a_single_grade_is_kept_as_it_is():
    cdl = CDL(slope=(1.1, 1.0, 0.9), offset=(0.01, 0.0, -0.02), power=(1.2, 1.0, 0.8), saturation=0.9)
    assert compose((cdl,)) == (cdl,)
    assert compose((CDL(), cdl, CDL())) == (cdl,)


def test_slopes_multiply_into_one_grade():
    chain = (CDL(slope=(1.1, 1.2, 1.3)), CDL(slope=(2.0, 0.5, 1.0)))
    (folded,) = compose(chain)
    assert folded.slope == pytest.approx((2.2, 0.6, 1.3))
    assert_grades_alike(chain, (folded,))


def test_a_grade_and_its_inverse_fold_to_nothing():
    assert compose((CDL(slope=(2.0, 2.0, 2.0)), CDL(slope=(0.5, 0.5, 0.5)))) == ()


def test_a_slope_and_offset_then_a_grade_with_power_and_saturation_fold_when_the_second_offset_lowers():
    chain = (
        CDL(slope=(1.5, 0.8, 1.0), offset=(0.05, -0.1, 0.2)),
        CDL(slope=(0.9, 1.1, 1.2), offset=(-0.01, 0.0, -0.3), power=(1.2, 0.9, 1.0), saturation=1.3),
    )
    (folded,) = compose(chain)
    assert folded.offset == pytest.approx((0.05 * 0.9 - 0.01, -0.1 * 1.1, 0.2 * 1.2 - 0.3))
    assert_grades_alike(chain, (folded,))


def test_a_raising_offset_after_a_clamp_does_not_fold():
    # The first grade clamps negative blacks to 0, which the second lifts to 0.1;
    # one CDL would keep those blacks at 0.
    chain = (CDL(offset=(-0.2, -0.2, -0.2)), CDL(offset=(0.1, 0.1, 0.1)))
    assert compose(chain) == chain
    naive = CDL(offset=(-0.1, -0.1, -0.1))
    assert not np.allclose(graded((naive,)), graded(chain))


def test_a_power_then_a_slope_does_not_fold():
    chain = (CDL(power=(2.0, 2.0, 2.0)), CDL(slope=(1.5, 1.5, 1.5), offset=(-0.1, -0.1, -0.1)))
    assert compose(chain) == chain


def test_saturations_multiply_when_the_first_desaturates():
    chain = (CDL(slope=(1.2, 1.0, 0.8), power=(1.1, 1.0, 0.9), saturation=0.8), CDL(saturation=1.5))
    (folded,) = compose(chain)
    assert folded.saturation == pytest.approx(1.2)
    assert_grades_alike(chain, (folded,))


def test_a_boosted_saturation_followed_by_another_does_not_fold():
    # Saturation above 1 can push a channel below 0, which the second grade clamps.
    chain = (CDL(saturation=2.0), CDL(saturation=0.5))
    assert compose(chain) == chain


def test_a_fold_past_a_grades_bounds_keeps_the_chain():
    chain = (CDL(slope=(900.0, 1.0, 1.0)), CDL(slope=(900.0, 1.0, 1.0)))
    assert compose(chain) == chain


def _random_cdl(rng: np.random.Generator) -> CDL:
    """Often power 1 and saturation 1, offsets of either sign, so both folds and refusals are drawn."""

    def triple(low: float, high: float) -> tuple[float, float, float]:
        a, b, c = (float(v) for v in rng.uniform(low, high, 3))
        return (a, b, c)

    return CDL(
        slope=triple(0.0, 2.0) if rng.random() < 0.8 else (1.0, 1.0, 1.0),
        offset=triple(-0.2, 0.2) if rng.random() < 0.6 else triple(-0.2, 0.0),
        power=triple(0.5, 2.0) if rng.random() < 0.4 else (1.0, 1.0, 1.0),
        saturation=float(rng.uniform(0.0, 2.0)) if rng.random() < 0.4 else 1.0,
    )


@pytest.mark.parametrize("seed", range(40))
def test_any_folded_chain_grades_every_pixel_as_the_chain_did(seed):
    rng = np.random.default_rng(seed)
    chain = tuple(_random_cdl(rng) for _ in range(int(rng.integers(2, 5))))
    folded = compose(chain)
    assert len(folded) <= len(chain)
    assert_grades_alike(chain, folded)


def test_random_chains_do_fold_sometimes():
    """The property above is not met by never folding."""
    folds = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        chain = tuple(_random_cdl(rng) for _ in range(int(rng.integers(2, 5))))
        folds += len(compose(chain)) < len(chain)
    assert folds >= 10
