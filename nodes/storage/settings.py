"""Where an S3 store is and how hard it tries: read from an s3:// URL and the environment.

Its own module so that the S3 adapter and `open_store` both import it and
neither imports the other at module level.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from nodes.storage.base import InvalidKey, check_key

MiB = 1024 * 1024
# S3 bucket naming rules, minus the legacy upper-case/underscore forms.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class S3Settings(BaseModel):
    """Where an S3Store talks to and how hard it tries; secrets never appear in repr."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint: str = Field(description="host[:port], without scheme; `secure` says http or https")
    bucket: str
    prefix: str = Field("", description="key prefix inside the bucket, without leading/trailing '/'")
    access_key: str | None = None
    secret_key: SecretStr | None = None
    secure: bool = True
    cert_check: bool = True
    region: str = "us-east-1"
    create_bucket: bool = False
    part_size: int = Field(16 * MiB, ge=5 * MiB, description="objects larger than this go up as multipart")
    tries: int = Field(5, ge=1, description="attempts per operation on connection errors and 5xx")
    backoff: float = Field(0.25, ge=0, description="first retry delay in seconds; doubles each retry")
    backoff_max: float = Field(4.0, ge=0)
    retry_deadline: float = Field(10.0, gt=0, description="no new attempt starts after this many seconds")
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(60.0, gt=0)

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, v: str) -> str:
        if not _BUCKET.match(v) or ".." in v:
            raise ValueError(f"invalid S3 bucket name {v!r}")
        return v

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        v = v.strip("/")
        if v:
            try:
                check_key(v)
            except InvalidKey:
                raise ValueError(f"invalid S3 key prefix {v!r}") from None
        return v

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        if not v or "://" in v or "/" in v:
            raise ValueError(f"S3 endpoint must be host[:port], got {v!r}")
        return v

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    @classmethod
    def from_url(cls, url: str, env: Mapping[str, str] | None = None, **overrides: object) -> S3Settings:
        """s3://bucket[/prefix] plus the environment; keyword overrides win over both.

        SHOTFARM_S3_ENDPOINT (host:port or http(s)://host:port; AWS_ENDPOINT_URL
        as a fallback), SHOTFARM_S3_ACCESS_KEY / SHOTFARM_S3_SECRET_KEY (or
        AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), SHOTFARM_S3_SECURE,
        SHOTFARM_S3_REGION (or AWS_REGION / AWS_DEFAULT_REGION),
        SHOTFARM_S3_CREATE_BUCKET.
        """
        env = os.environ if env is None else env
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"S3 store URL must look like s3://bucket/prefix, got {url!r}")
        values: dict[str, object] = {"bucket": parts.netloc, "prefix": parts.path}

        endpoint = env.get("SHOTFARM_S3_ENDPOINT") or env.get("AWS_ENDPOINT_URL")
        if not endpoint and "endpoint" not in overrides:
            raise ValueError(f"{url}: set SHOTFARM_S3_ENDPOINT (host:port or http(s)://host:port)")
        secure_env = env.get("SHOTFARM_S3_SECURE")
        if endpoint:
            scheme, sep, rest = endpoint.rpartition("://")
            values["endpoint"] = rest.rstrip("/")
            if sep:
                if scheme not in ("http", "https"):
                    raise ValueError(f"S3 endpoint scheme must be http or https, got {endpoint!r}")
                values["secure"] = scheme == "https"
        if secure_env is not None:
            secure = _flag("SHOTFARM_S3_SECURE", secure_env)
            if values.get("secure", secure) != secure:
                raise ValueError(f"SHOTFARM_S3_SECURE={secure_env} contradicts the endpoint {endpoint!r}")
            values["secure"] = secure

        access = env.get("SHOTFARM_S3_ACCESS_KEY") or env.get("AWS_ACCESS_KEY_ID")
        secret = env.get("SHOTFARM_S3_SECRET_KEY") or env.get("AWS_SECRET_ACCESS_KEY")
        if access:
            values["access_key"] = access
        if secret:
            values["secret_key"] = secret
        region = env.get("SHOTFARM_S3_REGION") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if region:
            values["region"] = region
        if "SHOTFARM_S3_CREATE_BUCKET" in env:
            values["create_bucket"] = _flag("SHOTFARM_S3_CREATE_BUCKET", env["SHOTFARM_S3_CREATE_BUCKET"])
        values.update(overrides)
        return cls.model_validate(values)


def _flag(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError(f"{name}={value!r}: expected 1/0, true/false, yes/no or on/off")
