"""The farm config: node classes and subscriptions, and the mistakes it refuses with a clear message."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orchestrator.config.farm_file import load_farm, parse_farm
from orchestrator.config.settings import FarmSettings
from orchestrator.scheduling.farm import FarmConfig, FarmConfigError, Need, NodeClass, Subscription
from pipelines.spec.loading import SpecError

H100 = {"name": "h100", "count": 2, "resource": "gpu_class_h100", "speed": 1.0, "usd_per_hour": 3.93}
A10G = {"name": "a10g", "count": 4, "resource": "gpu_class_a10g", "speed": 0.35, "usd_per_hour": 1.01,
        "max_pixels": 3840 * 1600}  # fmt: skip


def config(*classes, **extra) -> FarmConfig:
    return FarmConfig.model_validate({"classes": list(classes) or [H100, A10G], **extra})


BAD = {
    "negative price": ({"classes": [dict(H100, usd_per_hour=-1)]}, "classes[0].usd_per_hour: usd_per_hour must be zero or more, got -1"),
    "unknown class": (
        {"classes": [H100], "subscriptions": [{"show": "demo", "gpu_class": "h200", "share": 0.5}]},
        "names unknown node class 'h200'; known: h100",
    ),
    "no classes": ({"classes": []}, "classes: Tuple should have at least 1 item"),
    "zero speed": ({"classes": [dict(H100, speed=0)]}, "classes[0].speed: Input should be greater than 0"),
    "duplicate class": ({"classes": [H100, H100]}, "node class names must be unique, repeated: h100"),
    "shared resource": ({"classes": [H100, dict(A10G, resource="gpu_class_h100")]}, "each Ray resource places one class, shared: gpu_class_h100"),
    "shares over 100%": (
        {"classes": [H100], "subscriptions": [{"show": "a", "share": 0.7}, {"show": "b", "share": 0.4}]},
        "guaranteed shares add up to more than 100% of node class h100",
    ),
    "burst below share": (
        {"classes": [H100], "subscriptions": [{"show": "a", "share": 0.5, "burst": 0.2}]},
        "show a: burst 0.2 is below its share 0.5",
    ),
    "unknown field": ({"classes": [dict(H100, vram=80)]}, "classes[0].vram: unknown field"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_farm_config_is_refused_with_the_field_and_why(case):
    data, message = BAD[case]
    with pytest.raises(SpecError) as raised:
        parse_farm(data, "farm.yaml")
    assert message in raised.value.render() and "farm.yaml" in raised.value.render()


def test_a_farm_config_file_loads_and_its_errors_name_the_file(tmp_path):
    good = tmp_path / "farm.yaml"
    good.write_text("classes:\n  - {name: h100, count: 2, resource: gpu_class_h100, usd_per_hour: 3.93}\n")
    assert load_farm(good).classes[0].count == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("classes: [oops\n")
    with pytest.raises(SpecError, match="bad.yaml"):
        load_farm(bad)
    with pytest.raises(SpecError, match="cannot read"):
        load_farm(tmp_path / "missing.yaml")


def test_a_shot_no_class_can_run_is_named_with_every_class_and_why_not():
    farm = config(H100 | {"engines": ["pathtracer"], "max_pixels": 1920 * 1080}, A10G)
    with pytest.raises(FarmConfigError) as raised:
        farm.check_sequence({"sh010": Need("pathtracer", 3840 * 2160), "sh020": Need("pathtracer", 100)})
    message = str(raised.value)
    assert "no node class can run shot sh010" in message and "sh020" not in message
    assert "h100 holds at most 2,073,600 pixels" in message and "a10g holds at most 6,144,000 pixels" in message


def test_a_class_without_the_engine_cannot_run_the_shot():
    farm = config(dict(H100, engines=["blender"]))
    assert farm.capable(Need("pathtracer", 10)) == frozenset()
    with pytest.raises(FarmConfigError, match="h100 carries blender"):
        farm.check_sequence({"sh010": Need("pathtracer", 10)})


def test_capable_classes_follow_engine_and_frame_size():
    farm = config()
    assert farm.capable(Need("pathtracer", 1920 * 1080)) == {"h100", "a10g"}
    assert farm.capable(Need("pathtracer", 3840 * 2160)) == {"h100"}


@pytest.mark.parametrize(
    ("subs", "show", "gpu_class", "expected"),
    [
        ([], "demo", "h100", (0.0, 1.0, False)),
        ([{"show": "demo", "share": 0.3, "burst": 0.6}], "demo", "a10g", (0.3, 0.6, True)),
        ([{"show": "demo", "share": 0.3}, {"show": "demo", "gpu_class": "h100", "share": 0.5}], "demo", "h100", (0.5, 1.0, True)),
        ([{"show": "demo", "gpu_class": "h100", "share": 0.5}], "demo", "a10g", (0.0, 1.0, False)),
    ],
)
def test_a_class_specific_subscription_wins_over_the_shows_general_one(subs, show, gpu_class, expected):
    assert config(subscriptions=subs).subscription(show, gpu_class) == expected


def test_the_local_farm_knows_every_priced_class_at_speed_one():
    local = FarmConfig.local({"cpu": 0.05, "h100": 3.93})
    assert {c.name for c in local.classes} == {"cpu", "h100"}
    assert local.speed("cpu") == local.speed("h100") == 1.0 and local.rate("h100") == 3.93
    assert local.speed("never-heard-of") == 1.0 and local.rate("never-heard-of") == 0.0


def test_farm_settings_take_their_price_book_from_the_farm_config():
    settings = FarmSettings(farm=config())
    assert settings.prices.usd_per_hour == {"h100": 3.93, "a10g": 1.01}
    assert settings.prices.cost("a10g", 3600) == pytest.approx(1.01)
    assert settings.farm_config is settings.farm


def test_farm_settings_refuse_a_price_book_that_contradicts_the_farm_config():
    with pytest.raises(ValidationError, match="h100 costs 3.93/h in the farm config but 9.0/h in the price book"):
        FarmSettings(farm=config(H100), prices={"usd_per_hour": {"h100": 9.0}})
    with pytest.raises(ValidationError, match="node class h100 has no price"):
        FarmSettings(farm=config(H100), prices={"usd_per_hour": {"cpu": 0.05}})


def test_without_a_farm_config_the_scheduler_sees_the_price_book_as_classes():
    settings = FarmSettings()
    assert settings.farm is None
    assert settings.farm_config.rates() == settings.prices.usd_per_hour


def test_a_subscription_share_is_a_fraction():
    with pytest.raises(ValidationError):
        Subscription(show="demo", share=1.5)
    with pytest.raises(ValidationError, match="usd_per_hour must be zero or more"):
        NodeClass(name="h100", usd_per_hour=-0.01)
