"""Request bodies and uploads as documents: the media types the API takes, read with bounds.

Parsing is pipelines.spec.documents (size, depth, aliases, duplicate keys,
every container and number bounded) and runs on a worker thread, never on
the event loop that serves every other request and live stream.
"""

from __future__ import annotations

from typing import Any

import anyio

from pipelines.spec import limits
from pipelines.spec.errors import DocumentTooLarge

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()[:100]


async def read_body(request: Any, source: str, limit: int = limits.MAX_DOCUMENT_BYTES) -> bytes:
    """A request body of at most `limit` bytes: refused by its Content-Length before any of it is read,
    else counted as it streams in, so a hostile upload costs neither memory nor the event loop's time."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise DocumentTooLarge(source, [("", f"is {int(declared):,} bytes, over the limit of {limit:,}")])
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise DocumentTooLarge(source, [("", f"is over the limit of {limit:,} bytes")])
        chunks.append(chunk)
    return b"".join(chunks)


async def off_loop(fn: Any, *args: Any) -> Any:
    """Run a parse or validation on a worker thread, so one large request never stalls the others."""
    return await anyio.to_thread.run_sync(fn, *args)
