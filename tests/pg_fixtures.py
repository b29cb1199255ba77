"""Fixtures for tests against the real PostgreSQL cluster scripts/postgres-server.sh starts.

`pg_url` is a fresh, empty database on that cluster for one test, dropped
afterwards. Without the cluster the test skips locally and fails under CI.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]


def env_file() -> Path:
    return Path(os.environ.get("PG_ENV_FILE") or ROOT / ".postgres-server.env")


def server_settings() -> dict[str, str]:
    path = env_file()
    if not path.is_file():
        message = f"{path} does not exist; run `scripts/postgres-server.sh start` first"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"CI is set but the PostgreSQL test cluster is missing: {message}", pytrace=False)
        pytest.skip(message)
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in values.items()}


def admin_url() -> str:
    return server_settings()["PG_URL"]


def database_url(name: str) -> str:
    return admin_url().rsplit("/", 1)[0] + "/" + name


def create_database() -> str:
    name = "shotfarm_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_url(), autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(admin_url(), autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    name = create_database()
    yield database_url(name)
    drop_database(name)
