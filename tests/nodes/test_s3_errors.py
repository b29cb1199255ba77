"""S3Store without an S3 server: settings, retry bounds and error classification.

Failures are produced for real over HTTP: a closed port for "server down",
and a scripted HTTP server answering with chosen statuses for 5xx and 4xx.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nodes.errors import PermanentError, TransientError
from nodes.storage import S3Settings, open_store
from nodes.storage.base import DigestMismatch, ObjectMissing
from nodes.storage.local import LocalStore
from nodes.storage.s3 import S3Store, StoreAuthError

ENV = {"SHOTFARM_S3_ENDPOINT": "http://127.0.0.1:9", "SHOTFARM_S3_ACCESS_KEY": "AK", "SHOTFARM_S3_SECRET_KEY": "SK"}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket closes


def settings(port: int, **overrides: object) -> S3Settings:
    values: dict[str, object] = dict(
        endpoint=f"127.0.0.1:{port}", bucket="frames", access_key="AK", secret_key="SK", secure=False, backoff=0
    )
    values.update(overrides)
    return S3Settings.model_validate(values)


def counted(store: S3Store) -> list[str]:
    seen: list[str] = []
    store.observers.append(lambda method, url: seen.append(method))
    return seen


# -- settings and open_store ----------------------------------------------------


def test_settings_come_from_the_url_and_the_environment():
    s = S3Settings.from_url("s3://frames/show/seq", env={**ENV, "SHOTFARM_S3_REGION": "eu-west-3"})
    assert (s.endpoint, s.secure, s.bucket, s.prefix, s.region) == ("127.0.0.1:9", False, "frames", "show/seq", "eu-west-3")
    assert s.access_key == "AK" and s.secret_key.get_secret_value() == "SK"
    assert "SK" not in repr(s) and "SK" not in repr(S3Store(s))
    aws = S3Settings.from_url(
        "s3://frames", env={"SHOTFARM_S3_ENDPOINT": "s3.example:443", "AWS_ACCESS_KEY_ID": "A2", "AWS_SECRET_ACCESS_KEY": "S2"}
    )
    assert (aws.secure, aws.prefix, aws.access_key) == (True, "", "A2")
    assert S3Settings.from_url("s3://frames", env={"SHOTFARM_S3_ENDPOINT": "h:1", "SHOTFARM_S3_SECURE": "0"}).secure is False


@pytest.mark.parametrize(
    "url, env",
    [
        ("s3://frames/p", {}),  # no endpoint
        ("s3:///p", ENV),  # no bucket
        ("s3://Frames_Bad/p", ENV),
        ("s3://frames/../p", ENV),
        ("s3://frames/p?x=1", ENV),
        ("s3://frames/p", {**ENV, "SHOTFARM_S3_SECURE": "1"}),  # contradicts http://
        ("s3://frames/p", {**ENV, "SHOTFARM_S3_SECURE": "maybe"}),
        ("s3://frames/p", {**ENV, "SHOTFARM_S3_ENDPOINT": "ftp://h:1"}),
    ],
)
def test_bad_s3_settings_are_refused(url, env):
    with pytest.raises(ValueError):
        S3Settings.from_url(url, env=env)


def test_open_store_keeps_folders_and_opens_s3_urls(tmp_path, monkeypatch):
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    assert isinstance(open_store(f"file://{tmp_path}"), LocalStore)
    for var, value in ENV.items():
        monkeypatch.setenv(var, value)
    store = open_store("s3://frames/show")
    assert isinstance(store, S3Store) and store.prefix == "show"
    with pytest.raises(ValueError, match="unsupported"):
        open_store("gs://frames/show")


def test_a_local_store_never_imports_minio(tmp_path):
    code = (
        "import sys; from nodes.storage import open_store; "
        f"open_store({str(tmp_path)!r}).put('a/b.exr', b'x'); "
        "assert 'minio' not in sys.modules, 'minio was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- server down ------------------------------------------------------------------


def test_a_server_that_is_down_gives_a_transient_error_after_the_configured_tries():
    delays: list[float] = []
    store = S3Store(settings(closed_port(), tries=4, backoff=0.5, backoff_max=1.5), sleep=delays.append)
    seen = counted(store)
    with pytest.raises(TransientError, match=r"after 4 attempt\(s\)") as raised:
        store.put("a/b.exr", b"x")
    assert "127.0.0.1" in str(raised.value) and "frames" in str(raised.value)
    assert len(seen) == 4
    # Exponential, capped, jittered down to no less than half: 0.5, 1.0, 1.5.
    assert len(delays) == 3
    for delay, nominal in zip(delays, (0.5, 1.0, 1.5)):
        assert nominal / 2 <= delay <= nominal


def test_retries_stop_at_the_deadline_whatever_the_tries():
    store = S3Store(settings(closed_port(), tries=1000, backoff=0.05, backoff_max=0.05, retry_deadline=0.3))
    seen = counted(store)
    for op in (lambda: store.get("a/b.exr"), lambda: store.exists("a/b.exr")):
        with pytest.raises(TransientError):
            op()
    assert 2 <= len(seen) < 40  # 0.3 s of 25-50 ms sleeps per operation


# -- scripted HTTP answers --------------------------------------------------------

Reply = tuple[int, dict[str, str], bytes]


def xml_error(status: int, code: str) -> Reply:
    body = f"<Error><Code>{code}</Code><Message>scripted {code}</Message></Error>".encode()
    return status, {"Content-Type": "application/xml"}, body


def object_reply(data: bytes, sha: str | None = None) -> Reply:
    headers = {"Content-Type": "application/octet-stream", "ETag": '"e"'}
    if sha is not None:
        headers["x-amz-meta-sha256"] = sha
    return 200, headers, data


@pytest.fixture
def scripted() -> Iterator[tuple[int, list[Reply]]]:
    """An HTTP server that answers each request with the next scripted reply."""
    replies: list[Reply] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, body = replies.pop(0) if replies else xml_error(500, "InternalError")
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1], replies
    server.shutdown()
    server.server_close()


def test_5xx_and_slowdown_are_retried_until_the_server_recovers(scripted):
    port, replies = scripted
    sha = hashlib.sha256(b"frame").hexdigest()
    replies += [xml_error(503, "SlowDown"), (502, {"Content-Type": "text/html"}, b"<html>bad gateway</html>")]
    replies += [xml_error(500, "InternalError"), object_reply(b"frame", sha)]
    store = S3Store(settings(port, tries=5))
    seen = counted(store)
    assert store.get("a/b.exr") == b"frame"
    assert len(seen) == 4


def test_5xx_that_outlasts_the_retries_is_transient(scripted):
    port, replies = scripted
    replies += [xml_error(503, "ServiceUnavailable")] * 3
    store = S3Store(settings(port, tries=3))
    seen = counted(store)
    with pytest.raises(TransientError, match="ServiceUnavailable"):
        store.put("a/b.exr", b"frame")
    assert len(seen) == 3


@pytest.mark.parametrize(
    "reply, error",
    [
        (xml_error(403, "InvalidAccessKeyId"), StoreAuthError),
        (xml_error(403, "SignatureDoesNotMatch"), StoreAuthError),
        (xml_error(400, "InvalidArgument"), PermanentError),
        (xml_error(404, "NoSuchBucket"), PermanentError),
        (xml_error(404, "NoSuchKey"), ObjectMissing),
    ],
    ids=["bad-key", "bad-secret", "bad-argument", "no-bucket", "no-key"],
)
def test_4xx_is_never_retried(scripted, reply, error):
    port, replies = scripted
    replies += [reply] * 5
    store = S3Store(settings(port, tries=5))
    seen = counted(store)
    with pytest.raises(error):
        store.get("a/b.exr")
    assert len(seen) == 1


def test_get_checks_the_digest_in_the_object_metadata(scripted):
    port, replies = scripted
    replies += [object_reply(b"evil", hashlib.sha256(b"good").hexdigest()), object_reply(b"plain")]
    store = S3Store(settings(port))
    with pytest.raises(DigestMismatch, match="a/b.exr"):
        store.get("a/b.exr")
    assert store.get("a/b.exr") == b"plain"  # no recorded digest: nothing to check against
