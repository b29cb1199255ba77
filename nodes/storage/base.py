"""The Store protocol: where frames and masters live, addressed by relative keys.

Nodes read and write the store and pass keys and digests around; frame bytes
never go through Ray. Every write is atomic (a reader sees the whole object or
nothing) and returns the sha256 that events record, and reads can be checked
against that digest.
"""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=-]*(/[A-Za-z0-9_][A-Za-z0-9_.=-]*)*$")


class InvalidKey(ValueError):
    pass


class DigestMismatch(IOError):
    def __init__(self, key: str, expected: str, actual: str):
        self.key = key
        super().__init__(f"{key}: stored bytes hash to {actual[:12]}…, the log recorded {expected[:12]}…")


class ObjectMissing(FileNotFoundError):
    pass


def check_key(key: str) -> str:
    """Keys are relative paths of plain names: no '..', no leading '/', no empty parts."""
    if not _KEY.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise InvalidKey(f"invalid store key {key!r}")
    return key


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Store(Protocol):
    def put(self, key: str, data: bytes) -> str:
        """Write atomically; returns the sha256 of data."""

    def get(self, key: str) -> bytes:
        """Raise ObjectMissing when absent."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove one object if it is there (for uploads the farm refused; rendered work is never deleted)."""

    def discard_partial(self, prefix: str) -> int:
        """Remove what writes cut short by a crash left under `prefix`; returns how many.

        Call it only while nothing writes under the prefix (a farm starting up).
        """


def get_verified(store: Store, key: str, digest: str) -> bytes:
    data = store.get(key)
    actual = sha256(data)
    if actual != digest:
        raise DigestMismatch(key, digest, actual)
    return data
