"""Stores: atomic writes, digests, and keys that cannot escape the store."""

from __future__ import annotations

import hashlib

import pytest

from nodes.storage.base import DigestMismatch, InvalidKey, ObjectMissing, get_verified
from nodes.storage.local import LocalStore
from nodes.storage.memory import MemoryStore


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path):
    return LocalStore(tmp_path / "store") if request.param == "local" else MemoryStore()


def test_put_returns_the_sha256_and_get_returns_the_bytes(store):
    digest = store.put("demo/sq/shots/sh010/v1/001001.exr", b"frame")
    assert digest == hashlib.sha256(b"frame").hexdigest()
    assert store.get("demo/sq/shots/sh010/v1/001001.exr") == b"frame"
    assert store.exists("demo/sq/shots/sh010/v1/001001.exr")


def test_a_missing_object_raises_object_missing(store):
    with pytest.raises(ObjectMissing):
        store.get("demo/none.exr")
    assert not store.exists("demo/none.exr")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs/key", "a//b", "a/../b", "a/./b", "", "a/b/", "sp ace"])
def test_keys_that_could_escape_or_are_malformed_are_refused(store, key):
    with pytest.raises(InvalidKey):
        store.put(key, b"x")


def test_a_read_is_checked_against_the_recorded_digest(store):
    digest = store.put("k/frame.exr", b"good")
    assert get_verified(store, "k/frame.exr", digest) == b"good"
    store.put("k/frame.exr", b"evil")
    with pytest.raises(DigestMismatch, match="k/frame.exr"):
        get_verified(store, "k/frame.exr", digest)


def test_local_writes_leave_no_temporary_files_behind(tmp_path):
    store = LocalStore(tmp_path)
    for i in range(3):
        store.put("a/b.exr", bytes([i]) * 10)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b.exr"]


def test_a_failed_local_write_keeps_the_previous_object(tmp_path, monkeypatch):
    store = LocalStore(tmp_path)
    store.put("a/b.exr", b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("nodes.storage.local.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.put("a/b.exr", b"new")
    assert store.get("a/b.exr") == b"old"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b.exr"]


def test_what_a_killed_writer_left_is_discarded_under_the_prefix_and_only_there(tmp_path):
    store = LocalStore(tmp_path)
    store.put("demo/sq010/master/exr/001001.exr", b"frame")
    store.put("other/sq/a.exr", b"keep")
    # A writer killed between creating its temporary file and the rename.
    for stray in ("demo/sq010/master/exr/.tmp-k1l2", "demo/sq010/shots/sh010/v1/a1/.tmp-x9", "other/sq/.tmp-zz"):
        (tmp_path / stray).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / stray).write_bytes(b"half a fr")
    assert store.discard_partial("demo/sq010") == 2
    assert store.get("demo/sq010/master/exr/001001.exr") == b"frame"
    assert not list((tmp_path / "demo").rglob(".tmp-*"))
    assert (tmp_path / "other/sq/.tmp-zz").exists()  # another sequence's folder is not touched
    assert store.discard_partial("demo/none") == 0
