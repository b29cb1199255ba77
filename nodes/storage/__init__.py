"""Storage adapters behind the Store protocol; `open_store` picks one from a URL."""

from __future__ import annotations

from pathlib import Path

from nodes.storage.base import Store
from nodes.storage.local import LocalStore


def open_store(url: str) -> Store:
    """A folder path (or file:// URL) opens a LocalStore."""
    if url.startswith("file://"):
        url = url.removeprefix("file://")
    if "://" in url:
        raise ValueError(f"unsupported store URL {url!r}: only local folders are supported")
    return LocalStore(Path(url))
