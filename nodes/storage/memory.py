"""An in-memory store with the same contract, for unit tests."""

from __future__ import annotations

from nodes.storage.base import ObjectMissing, check_key, sha256


class MemoryStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, data: bytes) -> str:
        self.objects[check_key(key)] = bytes(data)
        return sha256(data)

    def get(self, key: str) -> bytes:
        try:
            return self.objects[check_key(key)]
        except KeyError:
            raise ObjectMissing(f"{key}: not in memory store") from None

    def exists(self, key: str) -> bool:
        return check_key(key) in self.objects

    def delete(self, key: str) -> None:
        self.objects.pop(check_key(key), None)

    def discard_partial(self, prefix: str) -> int:
        return 0  # a put is one assignment: nothing is ever left half-written
