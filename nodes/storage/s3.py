"""A store on an S3-compatible object store (AWS S3, Ceph RGW, MinIO), via minio.

This is the only module of the project that imports minio. It keeps the Store
contract of nodes.storage.base:

* put(key, data) -> sha256 hex. The digest also goes into the object's
  metadata (x-amz-meta-sha256) and `get` checks the bytes against it when it
  is there, so a corrupted or swapped object raises DigestMismatch even
  without the digest the event log recorded.
* Atomic publication. A single PUT is atomic per object in S3. Objects larger
  than `part_size` go up as a multipart upload, and those are atomic too:
  parts live in the upload's own namespace, invisible to GET/HEAD/LIST, and
  the object appears under its key, whole, only when CompleteMultipartUpload
  succeeds (AWS S3 and Ceph RGW both guarantee this; RGW writes the head
  object at completion). A failed upload is aborted by minio, so nothing is
  ever visible under the final key before completion and an earlier version
  stays readable until then. A temporary key plus server-side copy would add
  nothing but a second full write (and a multipart copy above 5 GiB). A
  process killed mid-upload leaves an invisible incomplete upload; give the
  bucket an AbortIncompleteMultipartUpload lifecycle rule to reclaim it.
* Retries. Connection errors, timeouts and 5xx (and S3's SlowDown /
  RequestTimeout) are retried with capped, jittered exponential backoff,
  bounded by `tries` and `retry_deadline`; what survives becomes a
  TransientError so the farm retries the chunk later. minio's own urllib3
  retries are switched off so that bound is the only one. 4xx are never
  retried: refused credentials raise StoreAuthError once, naming the
  endpoint and bucket; other client errors raise PermanentError.

It must never log or repr a secret key, and never leave a partial object
under a real key.
"""

from __future__ import annotations

import io
import os
import random
import time
from collections.abc import Callable
from typing import TypeVar

import certifi
import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError

from nodes.errors import PermanentError, StoreUnavailable
from nodes.storage.base import DigestMismatch, ObjectMissing, check_key, sha256
from nodes.storage.settings import S3Settings
from pipelines.backoff import Backoff

T = TypeVar("T")
RequestObserver = Callable[[str, str], None]

META_SHA256 = "x-amz-meta-sha256"
_AUTH_CODES = {
    "AccessDenied",
    "AllAccessDisabled",
    "AccountProblem",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidToken",
    "SignatureDoesNotMatch",
}
# 4xx codes that AWS documents as safe to retry.
_RETRY_CODES = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling"}
_BUCKET_EXISTS = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}


class StoreAuthError(PermissionError, PermanentError):
    """The S3 endpoint refused the credentials; no retry will change that."""


class _ObservedPool(urllib3.PoolManager):
    """A PoolManager that tells observers about every HTTP request before it goes out."""

    def __init__(self, observers: list[RequestObserver], **kw: object):
        super().__init__(**kw)
        self._observers = observers

    def urlopen(self, method: str, url: str, redirect: bool = True, **kw: object):  # type: ignore[override]
        for observe in tuple(self._observers):
            observe(method, url)
        return super().urlopen(method, url, redirect=redirect, **kw)


def _status(e: BaseException) -> int | None:
    if isinstance(e, S3Error):
        return e.response.status if e.response is not None else None
    if isinstance(e, ServerError):
        return e.status_code
    if isinstance(e, InvalidResponseError):
        return getattr(e, "_code", None)  # minio keeps the HTTP status only here
    return None


def _kind(e: BaseException) -> str:
    """'missing', 'auth', 'retry', 'fatal', or 'other' (not an S3/transport error: re-raise as is)."""
    status = _status(e)
    code = e.code if isinstance(e, S3Error) else None
    if code in ("NoSuchKey", "NoSuchObject"):
        return "missing"
    if code in _AUTH_CODES or status in (401, 403):
        return "auth"
    if code in _RETRY_CODES or (status is not None and (status >= 500 or status == 429)):
        return "retry"
    if isinstance(e, S3Error | ServerError | InvalidResponseError):
        return "fatal"
    if isinstance(e, urllib3.exceptions.SSLError):
        return "fatal"  # a certificate that does not verify will not verify next time either
    if isinstance(e, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError):
        return "retry"
    return "other"


class S3Store:
    """Store protocol on one bucket and key prefix of an S3-compatible endpoint."""

    def __init__(
        self,
        settings: S3Settings,
        *,
        observers: list[RequestObserver] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.settings = settings
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        # Observers see (method, url) of every HTTP request: metrics, and tests
        # that count attempts or act between the parts of an upload.
        self.observers: list[RequestObserver] = list(observers or ())
        self._sleep = sleep
        http = _ObservedPool(
            self.observers,
            timeout=urllib3.Timeout(connect=settings.connect_timeout, read=settings.read_timeout),
            retries=False,  # our own bounded retries are the only ones
            maxsize=10,
            cert_reqs="CERT_REQUIRED" if settings.cert_check else "CERT_NONE",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        )
        secret = settings.secret_key.get_secret_value() if settings.secret_key else None
        self.client = Minio(
            settings.endpoint,
            access_key=settings.access_key,
            secret_key=secret,
            secure=settings.secure,
            region=settings.region,  # a known region spares a GetBucketLocation per bucket
            http_client=http,
        )
        if settings.create_bucket:
            self.ensure_bucket()

    @classmethod
    def from_url(cls, url: str, **overrides: object) -> S3Store:
        return cls(S3Settings.from_url(url, **overrides))

    def __repr__(self) -> str:
        scheme = "https" if self.settings.secure else "http"
        return f"S3Store({self.settings.url} at {scheme}://{self.settings.endpoint})"

    # -- the Store protocol --------------------------------------------------

    def object_name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> str:
        name = self.object_name(key)
        digest = sha256(data)

        def upload() -> None:
            # A fresh stream per attempt: a retry re-sends from the first byte.
            self.client.put_object(
                self.bucket,
                name,
                io.BytesIO(data),
                len(data),
                content_type="application/octet-stream",
                metadata={META_SHA256: digest},
                part_size=self.settings.part_size,
            )

        self._call("writing", name, upload)
        return digest

    def get(self, key: str) -> bytes:
        name = self.object_name(key)

        def download() -> tuple[bytes, str | None]:
            response = self.client.get_object(self.bucket, name)
            try:
                # urllib3 enforces Content-Length, so a cut-off body raises here and is retried.
                return response.read(), response.headers.get(META_SHA256)
            finally:
                response.close()
                response.release_conn()

        data, recorded = self._call("reading", name, download)
        if recorded is not None:
            actual = sha256(data)
            if actual != recorded:
                raise DigestMismatch(key, recorded, actual)
        return data

    def exists(self, key: str) -> bool:
        name = self.object_name(key)
        try:
            self._call("checking", name, lambda: self.client.stat_object(self.bucket, name))
        except ObjectMissing:
            return False
        return True

    def delete(self, key: str) -> None:
        name = self.object_name(key)
        self._call("deleting", name, lambda: self.client.remove_object(self.bucket, name))

    def discard_partial(self, prefix: str) -> int:
        # An object appears only when its PUT (or multipart upload) completes, so a
        # killed writer leaves no object; its unfinished multipart parts are the
        # bucket lifecycle rule's to expire (AbortIncompleteMultipartUpload).
        return 0

    # -- administration ----------------------------------------------------------

    def ensure_bucket(self) -> None:
        """Create the bucket unless it exists (racing creators are fine)."""
        if self._call("checking", None, lambda: self.client.bucket_exists(self.bucket)):
            return
        try:
            self._call("creating", None, lambda: self.client.make_bucket(self.bucket, location=self.settings.region))
        except PermanentError as e:
            if not isinstance(e.__cause__, S3Error) or e.__cause__.code not in _BUCKET_EXISTS:
                raise

    # -- retries and error translation --------------------------------------------

    def _where(self, name: str | None) -> str:
        scheme = "https" if self.settings.secure else "http"
        target = f"s3://{self.bucket}/{name}" if name else f"bucket {self.bucket!r}"
        return f"{target} at {scheme}://{self.settings.endpoint}"

    def _call(self, what: str, name: str | None, op: Callable[[], T]) -> T:
        s = self.settings
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                return op()
            except Exception as e:  # noqa: BLE001 (classified right below)
                kind = _kind(e)
                if kind == "other":
                    raise
                if kind != "retry":
                    raise self._translate(kind, what, name, e) from e
                delay = Backoff(s.backoff, s.backoff_max).delay(attempt) * random.uniform(0.5, 1.0)
                elapsed = time.monotonic() - started
                if attempt >= s.tries or elapsed + delay > s.retry_deadline:
                    raise StoreUnavailable(
                        f"{what} {self._where(name)}: S3 unavailable after {attempt} attempt(s) "
                        f"in {elapsed:.1f}s: {type(e).__name__}: {e}",
                        delay=s.backoff_max,
                    ) from e
                self._sleep(delay)

    def _translate(self, kind: str, what: str, name: str | None, e: Exception) -> Exception:
        code = e.code if isinstance(e, S3Error) else f"HTTP {_status(e)}"
        if kind == "missing":
            return ObjectMissing(f"{name}: not in {self.settings.url} at {self.settings.endpoint}")
        if kind == "auth":
            who = f"access key {self.settings.access_key!r}" if self.settings.access_key else "no credentials (anonymous)"
            return StoreAuthError(
                f"S3 endpoint {self.settings.endpoint} refused the credentials for bucket {self.bucket!r} "
                f"({who}; {code}) while {what} {name or 'the bucket'}: check SHOTFARM_S3_ACCESS_KEY / "
                f"SHOTFARM_S3_SECRET_KEY (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
            )
        message = e.message if isinstance(e, S3Error) else str(e)
        return PermanentError(f"{what} {self._where(name)}: {code}: {message}")
