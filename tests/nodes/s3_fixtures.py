"""Fixtures for tests against real S3 servers started by scripts/s3-servers.sh.

Two tiers: moto (fast, in-memory) and a one-node Ceph RGW (a real S3
implementation). Endpoints and keys come from the env file the script writes.
A tier that is not running is skipped locally and fails the test under CI,
so CI can never pass by skipping. Import the fixtures into a test module:
    from tests.nodes.s3_fixtures import s3_tier, s3_store  # noqa: F401
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from nodes.storage import S3Settings
from nodes.storage.s3 import S3Store

ROOT = Path(__file__).resolve().parents[2]
TIERS = ("moto", "rgw")
BUCKET = "shotfarm-tests"


def env_file() -> Path:
    return Path(os.environ.get("S3_ENV_FILE") or ROOT / ".s3-servers.env")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


@dataclass(frozen=True)
class Tier:
    name: str
    endpoint: str  # host:port
    access_key: str
    secret_key: str

    def settings(self, bucket: str = BUCKET, prefix: str = "", **overrides: object) -> S3Settings:
        values: dict[str, object] = dict(
            endpoint=self.endpoint,
            bucket=bucket,
            prefix=prefix,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
        )
        values.update(overrides)
        return S3Settings.model_validate(values)

    def env(self) -> dict[str, str]:
        """The environment variables open_store reads, pointing at this tier."""
        return {
            "SHOTFARM_S3_ENDPOINT": f"http://{self.endpoint}",
            "SHOTFARM_S3_ACCESS_KEY": self.access_key,
            "SHOTFARM_S3_SECRET_KEY": self.secret_key,
        }


def _unavailable(why: str) -> None:
    message = f"{why}; run `scripts/s3-servers.sh start` first"
    if in_ci():
        pytest.fail(f"CI is set but the S3 test servers are missing: {message}", pytrace=False)
    pytest.skip(message)


def load_tier(name: str) -> Tier:
    path = env_file()
    if not path.is_file():
        _unavailable(f"{path} does not exist")
    values = read_env_file(path)
    prefix = f"S3_{name.upper()}_"
    try:
        endpoint = values[prefix + "ENDPOINT"]
        tier = Tier(name, endpoint.split("://", 1)[-1], values[prefix + "ACCESS_KEY"], values[prefix + "SECRET_KEY"])
    except KeyError:
        _unavailable(f"{path} has no {prefix}* lines (the {name} server did not start)")
    host, _, port = tier.endpoint.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError as e:
        _unavailable(f"{name} at {tier.endpoint} does not answer ({e})")
    return tier


@pytest.fixture(scope="session", params=TIERS)
def s3_tier(request: pytest.FixtureRequest) -> Tier:
    tier = load_tier(request.param)
    S3Store(tier.settings(create_bucket=True))  # once per session: RGW's first bucket takes ~2 s
    return tier


@pytest.fixture
def s3_store(s3_tier: Tier) -> S3Store:
    """A store under a prefix of its own, so tests never see each other's objects."""
    return S3Store(s3_tier.settings(prefix=f"t-{uuid.uuid4().hex[:12]}"))
