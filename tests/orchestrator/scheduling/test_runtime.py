"""The runtime model: seconds per cost unit, learned from finished chunks and transferred where unseen."""

from __future__ import annotations

import pytest

from orchestrator.scheduling.runtime import WINDOW, RuntimeModel, key_of

HD = key_of("pathtracer", (1920, 1080), 64)
UHD = key_of("pathtracer", (3840, 2160), 64)


def test_before_anything_is_measured_the_prior_is_scaled_by_class_speed():
    model = RuntimeModel(prior=2.0)
    assert not model.knows("pathtracer")
    assert model.seconds(HD, "h100", 1.0, 10) == 20.0
    assert model.seconds(HD, "a10g", 0.5, 10) == 40.0


def test_a_measured_key_and_class_predicts_what_was_measured():
    model = RuntimeModel().observe(HD, "h100", 1.0, seconds=30.0, units=10.0)
    assert model.knows("pathtracer") and model.seconds(HD, "h100", 1.0, 20) == pytest.approx(60.0)


def test_an_unseen_class_is_predicted_from_another_class_and_the_speeds():
    model = RuntimeModel().observe(HD, "h100", 1.0, seconds=30.0, units=10.0)
    assert model.seconds(HD, "l40s", 0.6, 10) == pytest.approx(50.0)


def test_an_unseen_key_is_predicted_from_the_engines_other_keys():
    model = RuntimeModel(prior=99.0).observe(HD, "h100", 1.0, seconds=30.0, units=10.0)
    assert model.seconds(UHD, "h100", 1.0, 10) == pytest.approx(30.0)
    assert model.seconds(key_of("blender", (1920, 1080), 64), "h100", 1.0, 10) == pytest.approx(990.0)


def test_observations_average_and_then_follow_a_moving_window():
    model = RuntimeModel()
    for seconds in (10.0, 20.0, 30.0):
        model = model.observe(HD, "h100", 1.0, seconds, 10.0)
    assert model.seconds_per_unit(HD, "h100", 1.0) == pytest.approx(2.0)
    for _ in range(10 * WINDOW):
        model = model.observe(HD, "h100", 1.0, 50.0, 10.0)
    assert model.seconds_per_unit(HD, "h100", 1.0) == pytest.approx(5.0, rel=1e-3)


def test_observing_returns_a_new_model_and_leaves_the_old_one_alone():
    old = RuntimeModel()
    new = old.observe(HD, "h100", 1.0, 10.0, 10.0)
    assert not old.knows("pathtracer") and new.knows("pathtracer") and new.observations() == 1


@pytest.mark.parametrize(("seconds", "units"), [(0.0, 10.0), (10.0, 0.0)])
def test_a_chunk_of_no_time_or_no_cost_teaches_nothing(seconds, units):
    assert RuntimeModel().observe(HD, "h100", 1.0, seconds, units) == RuntimeModel()
