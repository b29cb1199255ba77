"""A store on a local (or shared) folder: the embedded default.

Writes go to a temporary name in the destination folder, are fsynced, then
renamed over the final name, so a crash leaves either the old object, the
new one, or a stray temporary file, never a torn frame under a real key.
The farm discards such strays when it starts again (`discard_partial`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from nodes.storage.base import ObjectMissing, check_key, sha256

TMP_PREFIX = ".tmp-"


class LocalStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> str:
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)
        return sha256(data)

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(f"{key}: not in store {self.root}") from None

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def discard_partial(self, prefix: str) -> int:
        """Temporary files a killed writer left between mkstemp and the rename."""
        top = self.path(prefix)
        strays = [p for p in top.rglob(f"{TMP_PREFIX}*") if p.is_file()] if top.is_dir() else []
        for stray in strays:
            stray.unlink(missing_ok=True)
        return len(strays)
