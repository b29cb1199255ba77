"""Each overlay rendered once per test module (tests deep-copy before they change a document)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.support import render

OVERLAYS = ("dev", "gpu")


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request) -> list[dict[str, Any]]:
    return render(request.param)


@pytest.fixture(scope="module")
def gpu() -> list[dict[str, Any]]:
    return render("gpu")


@pytest.fixture(scope="module")
def dev() -> list[dict[str, Any]]:
    return render("dev")
