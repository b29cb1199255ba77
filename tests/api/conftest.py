"""Fixtures for the API tests: a live server on loopback over an in-process farm."""

from __future__ import annotations

import pytest

from tests.api.support import local_server


@pytest.fixture
def live(tmp_path):
    with local_server(tmp_path) as server:
        yield server
