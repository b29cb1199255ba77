"""The engine registry: engines are found by entry point, and a broken one is listed, never raised."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint

import pytest

from pipelines.render.engines import registry
from pipelines.render.engines.base import ENTRY_POINT_GROUP, EngineContext, EngineInfo


def point(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


PATHTRACER = point("pathtracer", "pipelines.render.engines.pathtracer_plugin:INFO")
NEVER_USABLE = EngineInfo(name="lacking", summary="needs what no machine has", build=lambda c: None, probe=lambda: "no licence server")  # type: ignore[arg-type,return-value]


def broken_probe() -> str | None:
    raise OSError("the probe itself crashed")


BROKEN_PROBE = EngineInfo(name="flaky", summary="a probe that raises", build=lambda c: None, probe=broken_probe)  # type: ignore[arg-type,return-value]


@pytest.fixture
def installed(monkeypatch):
    """The registry's view replaced by these entry points, read the way it reads the installed ones."""

    def install(*points: EntryPoint) -> None:
        monkeypatch.setattr(registry, "available", lambda: registry.declared(points))

    return install


def test_the_builtin_path_tracer_is_installed_and_usable_here():
    found = {d.name: d for d in registry.available()}
    assert found["pathtracer"].info is registry.info("pathtracer")
    assert found["pathtracer"].why_unusable() is None
    assert registry.info("pathtracer").devices == ("cpu", "cuda")


def test_declarations_are_read_once_per_process():
    assert registry.available() is registry.available()


def test_an_unknown_engine_is_a_key_error_naming_the_installed_ones():
    with pytest.raises(KeyError, match=r"unknown engine 'renderman'; installed engines: .*pathtracer"):
        registry.info("renderman")
    with pytest.raises(KeyError, match="renderman"):
        registry.build("renderman", EngineContext())


def test_an_engine_whose_module_fails_to_import_is_listed_unusable_with_the_reason(installed):
    installed(PATHTRACER, point("vray", "no_such_studio_package.engine:INFO"))
    listed = {d.name: d for d in registry.available()}
    assert listed["pathtracer"].why_unusable() is None
    assert "ModuleNotFoundError" in listed["vray"].why_unusable() and "no_such_studio_package" in listed["vray"].why_unusable()
    with pytest.raises(registry.EngineUnavailable, match="vray.*cannot be imported"):
        registry.build("vray", EngineContext())


def test_an_entry_point_that_names_something_else_than_an_engine_info_is_listed_unusable(installed):
    installed(point("dumps", "json:dumps"))
    (entry,) = registry.available()
    assert entry.info is None and entry.why_unusable() == "names a function, not an EngineInfo"


def test_an_engine_declared_under_another_name_than_its_own_is_listed_unusable(installed):
    installed(point("tracer", PATHTRACER.value))
    (entry,) = registry.available()
    assert entry.why_unusable() == "its EngineInfo is named 'pathtracer', not 'tracer'"


def test_a_name_two_packages_declare_keeps_the_first_and_lists_the_other_as_a_conflict(installed):
    installed(PATHTRACER, point("pathtracer", "json:dumps"))
    first, second = registry.available()
    assert first.info is not None and first.target == PATHTRACER.value
    assert second.info is None and "already declares 'pathtracer'" in second.why_unusable()
    assert registry.info("pathtracer") is first.info


def test_an_engine_its_probe_finds_unusable_is_listed_and_not_built(installed, monkeypatch):
    monkeypatch.setitem(sys.modules, "tests_engines_here", type(sys)("tests_engines_here"))
    sys.modules["tests_engines_here"].lacking = NEVER_USABLE  # type: ignore[attr-defined]
    sys.modules["tests_engines_here"].flaky = BROKEN_PROBE  # type: ignore[attr-defined]
    installed(point("lacking", "tests_engines_here:lacking"), point("flaky", "tests_engines_here:flaky"))
    listed = {d.name: d.why_unusable() for d in registry.available()}
    assert listed == {"flaky": "its probe failed: OSError: the probe itself crashed", "lacking": "no licence server"}
    with pytest.raises(registry.EngineUnavailable, match="cannot run here: no licence server"):
        registry.build("lacking", EngineContext())


def test_listing_engines_imports_neither_torch_nor_ray():
    code = (
        "import sys\nfrom pipelines.render.engines import registry\nregistry.available()\n"
        "print(sorted(m for m in ('torch', 'ray') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"
