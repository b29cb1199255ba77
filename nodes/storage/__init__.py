"""Storage adapters behind the Store protocol; `open_store` picks one from a URL.

A folder path or file:// URL opens a LocalStore; s3://bucket/prefix opens an
S3Store configured by S3Settings (URL plus SHOTFARM_S3_* / AWS_* environment).
This module must never import minio itself: nodes that only use a local
folder must not pay for, or depend on, the S3 client.
"""

from __future__ import annotations

from pathlib import Path

from nodes.storage.base import Store
from nodes.storage.local import LocalStore
from nodes.storage.settings import S3Settings

__all__ = ["S3Settings", "Store", "open_store"]


def open_store(url: str) -> Store:
    """A folder path (or file:// URL) opens a LocalStore; s3://bucket/prefix an S3Store."""
    if url.startswith("s3://"):
        from nodes.storage.s3 import S3Store  # lazy: only S3 users import minio

        return S3Store(S3Settings.from_url(url))
    if url.startswith("file://"):
        url = url.removeprefix("file://")
    if "://" in url:
        raise ValueError(f"unsupported store URL {url!r}: use a folder, file:// or s3://bucket/prefix")
    return LocalStore(Path(url))
