"""Bearer tokens scoped to shows.

Tokens come from the environment (`SHOTFARM_TOKENS="tok1=demo,other;tok2=*"`,
where `*` is the admin scope: every show, plus /metrics) and from a YAML or
JSON file:

    tokens:
      - {name: editorial, token: "…", shows: [demo]}
      - {name: ops, sha256: "<hex digest of the token>", shows: ["*"]}

Only sha256 digests are kept in memory; a presented token is hashed and
compared against every entry with `hmac.compare_digest` (no early exit), so
neither a match nor its position can be timed. Tokens must never be logged,
echoed in an error, or accepted anywhere but the Authorization header.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ADMIN = "*"
MIN_TOKEN_LENGTH = 16
_SHOW = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class TokenConfigError(ValueError):
    """The token configuration cannot be used; the message names the file or variable, never a token."""


class Principal(BaseModel):
    """Who a request comes from: a token's name and the shows it may see."""

    model_config = ConfigDict(frozen=True)

    name: str
    shows: frozenset[str]

    @property
    def admin(self) -> bool:
        return ADMIN in self.shows

    def may_see(self, show: str) -> bool:
        return self.admin or show in self.shows


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    token: str | None = Field(None, min_length=MIN_TOKEN_LENGTH, repr=False)
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    shows: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_secret(self) -> _Entry:
        if (self.token is None) == (self.sha256 is None):
            raise ValueError("give exactly one of token or sha256")
        bad = [s for s in self.shows if s != ADMIN and not re.match(_SHOW, s)]
        if bad:
            raise ValueError(f"not show names: {', '.join(map(repr, bad))}")
        return self


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: list[_Entry] = Field(min_length=1)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class TokenTable:
    def __init__(self, entries: list[tuple[bytes, Principal]]):
        digests = [d for d, _ in entries]
        if len(set(digests)) != len(digests):
            raise TokenConfigError("the same token is configured twice")
        self._entries = entries

    def __len__(self) -> int:
        return len(self._entries)

    def authenticate(self, token: str) -> Principal | None:
        presented = _digest(token)
        found = None
        for digest, principal in self._entries:  # every entry, always: no timing of where it matched
            if hmac.compare_digest(presented, digest):
                found = principal
        return found

    @classmethod
    def parse_env(cls, text: str, variable: str = "SHOTFARM_TOKENS") -> list[tuple[bytes, Principal]]:
        entries = []
        for n, item in enumerate(filter(None, (p.strip() for p in text.split(";"))), start=1):
            token, sep, shows = item.partition("=")
            names = tuple(s.strip() for s in shows.split(",") if s.strip())
            if not sep or not names:
                raise TokenConfigError(f"{variable}: entry {n} must look like TOKEN=show1,show2 or TOKEN=*")
            try:
                entry = _Entry(name=f"{variable}#{n}", token=token.strip(), shows=names)
            except ValidationError as e:
                raise TokenConfigError(f"{variable}: entry {n}: {_reason(e)}") from None
            entries.append(_pair(entry))
        return entries

    @classmethod
    def parse_file(cls, path: Path) -> list[tuple[bytes, Principal]]:
        try:
            text = path.read_text(encoding="utf-8")
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as e:
            raise TokenConfigError(f"{path}: cannot read tokens ({type(e).__name__})") from None
        try:
            parsed = _File.model_validate(data)
        except ValidationError as e:
            raise TokenConfigError(f"{path}: {_reason(e)}") from None
        return [_pair(entry, f"{path.name}#{n}") for n, entry in enumerate(parsed.tokens, start=1)]

    @classmethod
    def load(cls, file: Path | None, env: Mapping[str, str] | None = None, variable: str = "SHOTFARM_TOKENS") -> TokenTable:
        env = os.environ if env is None else env
        entries = cls.parse_env(env.get(variable, ""), variable)
        if file is not None:
            entries += cls.parse_file(file)
        if not entries:
            raise TokenConfigError(f"no API tokens: set {variable} (token=show1,show2;token2=*) or give a tokens file")
        return cls(entries)


def _pair(entry: _Entry, default_name: str = "token") -> tuple[bytes, Principal]:
    digest = _digest(entry.token) if entry.token is not None else bytes.fromhex(entry.sha256 or "")
    return digest, Principal(name=entry.name or default_name, shows=frozenset(entry.shows))


def _reason(e: ValidationError) -> str:
    # Field paths and messages only: the offending input may be a token.
    return "; ".join(".".join(str(p) for p in err["loc"]) + ": " + err["msg"] for err in e.errors(include_input=False))
