"""Colour temperature to ACEScg: what a light's kelvin value means."""

from __future__ import annotations

import pytest

from pipelines.color.temperature import (
    acescg_to_xy,
    cct_from_xy,
    kelvin_to_acescg,
    luminance,
    planckian_xy,
)

AP1_WEIGHTS = (0.2722287, 0.6740818, 0.0536895)


def kang_2002_xy(kelvin: float) -> tuple[float, float]:
    """Kang et al. 2002 cubic fit of the Planckian locus: an independent reference."""
    t = kelvin
    if t <= 4000:
        x = -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390
    if t <= 2222:
        y = -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683
    elif t <= 4000:
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    return x, y


@pytest.mark.parametrize("kelvin", [1000, 1900, 3200, 5600, 6500, 10000, 40000])
def test_colour_is_normalised_to_unit_ap1_luminance(kelvin: float) -> None:
    rgb = kelvin_to_acescg(kelvin)
    assert sum(w * c for w, c in zip(AP1_WEIGHTS, rgb)) == pytest.approx(1.0, abs=1e-5)
    assert luminance(rgb) == pytest.approx(1.0, abs=1e-6)
    assert min(rgb) >= 0


def test_6500k_is_close_to_neutral() -> None:
    rgb = kelvin_to_acescg(6500)
    assert max(rgb) / min(rgb) < 1.15


def test_tungsten_3200k_is_warm_red_above_green_above_blue() -> None:
    r, g, b = kelvin_to_acescg(3200)
    assert r > g > b


def test_10000k_is_cool_blue_above_red() -> None:
    r, _, b = kelvin_to_acescg(10000)
    assert b > r


def test_blue_to_red_ratio_rises_with_temperature() -> None:
    ratios = [b / r for r, _, b in map(kelvin_to_acescg, range(1500, 20001, 500))]
    assert ratios == sorted(ratios)


@pytest.mark.parametrize("kelvin", range(2000, 20001, 1000))
def test_locus_matches_the_kang_2002_fit(kelvin: int) -> None:
    x, y = planckian_xy(kelvin)
    kx, ky = kang_2002_xy(kelvin)
    assert abs(x - kx) < 0.004 and abs(y - ky) < 0.004


@pytest.mark.parametrize("kelvin", range(2500, 10001, 500))
def test_kelvin_survives_a_round_trip_through_xy_and_mccamy_within_2_percent(kelvin: int) -> None:
    x, y = acescg_to_xy(kelvin_to_acescg(kelvin))
    assert cct_from_xy(x, y) == pytest.approx(kelvin, rel=0.02)


def test_acescg_white_is_the_aces_white_point() -> None:
    assert acescg_to_xy((1.0, 1.0, 1.0)) == pytest.approx((0.32168, 0.33767), abs=1e-4)


def test_mccamy_puts_d65_near_6500k() -> None:
    assert cct_from_xy(0.3127, 0.3290) == pytest.approx(6504, abs=15)


def test_black_has_no_chromaticity() -> None:
    with pytest.raises(ValueError):
        acescg_to_xy((0.0, 0.0, 0.0))
