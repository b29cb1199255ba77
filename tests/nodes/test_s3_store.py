"""S3Store against real servers: the Store contract, atomic multipart, auth, digests.

Every test runs on both tiers of scripts/s3-servers.sh (moto and Ceph RGW);
see tests/nodes/s3_fixtures.py for how a missing server skips or fails.
"""

from __future__ import annotations

import hashlib
import io
import os

import pytest
import urllib3

from nodes.errors import PermanentError, TransientError
from nodes.storage import open_store
from nodes.storage.base import DigestMismatch, InvalidKey, ObjectMissing, get_verified
from nodes.storage.s3 import META_SHA256, S3Store, StoreAuthError
from tests.nodes.s3_fixtures import BUCKET, Tier, s3_store, s3_tier  # noqa: F401

MiB = 1024 * 1024


def recorder(store: S3Store) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    store.observers.append(lambda method, url: seen.append((method, url)))
    return seen


def test_put_returns_the_sha256_and_get_returns_the_bytes(s3_store):
    digest = s3_store.put("demo/sq/shots/sh010/v1/001001.exr", b"frame")
    assert digest == hashlib.sha256(b"frame").hexdigest()
    assert s3_store.get("demo/sq/shots/sh010/v1/001001.exr") == b"frame"
    assert s3_store.exists("demo/sq/shots/sh010/v1/001001.exr")
    assert s3_store.put("empty.exr", b"") == hashlib.sha256(b"").hexdigest()
    assert s3_store.get("empty.exr") == b""


def test_a_missing_object_raises_object_missing(s3_store):
    with pytest.raises(ObjectMissing, match="demo/none.exr"):
        s3_store.get("demo/none.exr")
    assert not s3_store.exists("demo/none.exr")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs/key", "a//b", "a/../b", "a/./b", "", "a/b/", "sp ace"])
def test_invalid_keys_are_refused_before_any_request(s3_store, key):
    seen = recorder(s3_store)
    for op in (lambda: s3_store.put(key, b"x"), lambda: s3_store.get(key), lambda: s3_store.exists(key)):
        with pytest.raises(InvalidKey):
            op()
    assert seen == []


def test_the_digest_travels_in_object_metadata(s3_store):
    digest = s3_store.put("k/frame.exr", b"good")
    stat = s3_store.client.stat_object(BUCKET, s3_store.object_name("k/frame.exr"))
    assert stat.metadata[META_SHA256] == digest


def test_a_read_is_checked_against_the_recorded_digest(s3_store):
    digest = s3_store.put("k/frame.exr", b"good")
    assert get_verified(s3_store, "k/frame.exr", digest) == b"good"
    s3_store.put("k/frame.exr", b"evil")
    with pytest.raises(DigestMismatch, match="k/frame.exr"):
        get_verified(s3_store, "k/frame.exr", digest)


def test_an_object_changed_behind_the_stores_back_is_caught(s3_store):
    name = s3_store.object_name("k/frame.exr")
    digest = s3_store.put("k/frame.exr", b"good")
    # Another writer keeps the metadata but swaps the bytes: get itself refuses them.
    s3_store.client.put_object(BUCKET, name, io.BytesIO(b"evil"), 4, metadata={META_SHA256: digest})
    with pytest.raises(DigestMismatch, match="k/frame.exr"):
        s3_store.get("k/frame.exr")
    # Without metadata get cannot know; the digest the log recorded still catches it.
    s3_store.client.put_object(BUCKET, name, io.BytesIO(b"evil"), 4)
    assert s3_store.get("k/frame.exr") == b"evil"
    with pytest.raises(DigestMismatch):
        get_verified(s3_store, "k/frame.exr", digest)


@pytest.mark.parametrize("before", ["absent", "old version"])
def test_a_multipart_object_appears_whole_only_at_completion(s3_tier, s3_store, before):
    """Just before CompleteMultipartUpload goes out, every part is on the server: readers must still not see it."""
    key = "big/master.exr"
    big = os.urandom(20 * MiB)  # > the 16 MiB part size: two parts
    if before == "old version":
        s3_store.put(key, b"old")
    observer = S3Store(s3_tier.settings(prefix=s3_store.prefix))
    at_completion: list[object] = []

    def look(method: str, url: str) -> None:
        if method == "POST" and "uploadId=" in url:
            at_completion.append(observer.get(key) if observer.exists(key) else "absent")

    seen = recorder(s3_store)
    s3_store.observers.append(look)
    digest = s3_store.put(key, big)

    assert any("partNumber=2" in url for _, url in seen), "the upload did not go up in parts"
    assert at_completion == ["absent" if before == "absent" else b"old"]
    assert observer.get(key) == big
    assert get_verified(observer, key, digest) == big


def test_a_failed_multipart_upload_publishes_nothing(s3_tier, s3_store):
    s3_store.put("big/master.exr", b"old")
    store = S3Store(s3_tier.settings(prefix=s3_store.prefix, tries=2, backoff=0))
    seen = recorder(store)

    def cut_part_two(method: str, url: str) -> None:
        if method == "PUT" and "partNumber=2" in url:
            raise urllib3.exceptions.ProtocolError("connection cut by the test")

    store.observers.append(cut_part_two)
    with pytest.raises(TransientError, match="after 2 attempt"):
        store.put("big/master.exr", os.urandom(20 * MiB))
    assert s3_store.get("big/master.exr") == b"old"
    # Each attempt started an upload and aborted it.
    assert sum(1 for m, u in seen if m == "POST" and u.endswith("uploads=")) == 2
    assert sum(1 for m, u in seen if m == "DELETE" and "uploadId=" in u) == 2


def test_wrong_credentials_fail_at_once_with_a_clear_error(s3_tier, s3_store):
    s3_store.put("k/frame.exr", b"good")
    bad = S3Store(s3_tier.settings(prefix=s3_store.prefix, secret_key="not-the-secret", tries=5, backoff=0))
    seen = recorder(bad)
    for op in (lambda: bad.put("k/frame.exr", b"x"), lambda: bad.get("k/frame.exr"), lambda: bad.exists("k/frame.exr")):
        with pytest.raises(StoreAuthError) as raised:
            op()
        message = str(raised.value)
        assert s3_tier.endpoint in message and BUCKET in message and "refused the credentials" in message
        assert "not-the-secret" not in message
        assert isinstance(raised.value, PermissionError) and isinstance(raised.value, PermanentError)
    assert len(seen) == 3, "an auth failure must not be retried"
    assert s3_store.get("k/frame.exr") == b"good"


def test_prefixes_isolate_stores_in_one_bucket(s3_tier, s3_store):
    a = S3Store(s3_tier.settings(prefix=f"{s3_store.prefix}/a"))
    b = S3Store(s3_tier.settings(prefix=f"{s3_store.prefix}/b"))
    a.put("k/frame.exr", b"from a")
    assert not b.exists("k/frame.exr")
    with pytest.raises(ObjectMissing):
        b.get("k/frame.exr")
    b.put("k/frame.exr", b"from b")
    assert a.get("k/frame.exr") == b"from a"
    assert s3_store.get("a/k/frame.exr") == b"from a"  # the parent prefix sees both
    assert s3_store.get("b/k/frame.exr") == b"from b"


@pytest.mark.parametrize("names", ["SHOTFARM", "AWS"])
def test_open_store_takes_an_s3_url_and_credentials_from_the_environment(s3_tier, s3_store, monkeypatch, names):
    for var in ("SHOTFARM_S3_ACCESS_KEY", "SHOTFARM_S3_SECRET_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var, raising=False)
    env = s3_tier.env()
    if names == "AWS":
        env["AWS_ACCESS_KEY_ID"] = env.pop("SHOTFARM_S3_ACCESS_KEY")
        env["AWS_SECRET_ACCESS_KEY"] = env.pop("SHOTFARM_S3_SECRET_KEY")
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    store = open_store(f"s3://{BUCKET}/{s3_store.prefix}/opened")
    assert isinstance(store, S3Store)
    digest = store.put("k/frame.exr", b"via url")
    assert get_verified(s3_store, "opened/k/frame.exr", digest) == b"via url"


def test_a_render_node_writes_verifiable_frames_to_s3(s3_tier, s3_store, monkeypatch):
    from fractions import Fraction

    from nodes.actors.render import RenderNode
    from nodes.protocol import ChunkOrder
    from pipelines.exr import decode_frame
    from pipelines.spec.setup import shot_setup
    from tests.builders import sequence

    for var, value in s3_tier.env().items():
        monkeypatch.setenv(var, value)
    seq = sequence()
    node = RenderNode("cpu-s3", f"s3://{BUCKET}/{s3_store.prefix}")
    order = ChunkOrder(
        sequence_id=f"{seq.show}:{seq.sequence}",
        chunk_id="sh010-0001",
        attempt=1,
        setup=shot_setup(seq, "sh010"),
        first=1001,
        last=1002,
        key_prefix=f"{seq.show}/{seq.sequence}/shots/sh010/v1",
        fps=Fraction(seq.fps),
        start_timecode=seq.start_timecode,
        timeline_first=seq.timeline[0].frames.first,
    )
    result = node.render(order)
    assert [f.frame for f in result.frames] == [1001, 1002]
    for frame in result.frames:
        assert frame.key == f"demo/sq010/shots/sh010/v1/{frame.frame:06d}.exr"
        pixels, header = decode_frame(get_verified(s3_store, frame.key, frame.digest))
        assert pixels.shape == (18, 32, 3)
        assert pixels.mean() > 0  # a lit render, not an empty buffer
