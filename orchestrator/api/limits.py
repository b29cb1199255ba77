"""What a request may be: size limits on bodies and the shapes of ids in URLs.

Every id that reaches a route has matched one of these patterns first, so
no path segment can name anything outside the farm's own namespace (no '..',
no '/', no store key tricks). The body limit is enforced before a route
reads anything: by Content-Length when given, by counting otherwise.
"""

from __future__ import annotations

import json
from typing import Any

from pipelines.spec import limits

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""A show, sequence or shot name (the spec's own Name)."""
SEQUENCE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""`show:sequence`."""
CUT = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}>[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""`left>right`, two shot names."""
PREVIS_ID = r"^[0-9a-f]{16}$"
MAX_FRAME = limits.MAX_FRAME
"""Frame numbers in URLs are bounded as the spec's are (pipelines.spec.limits holds every bound)."""


class BodyLimit:
    """ASGI middleware: 413 for any request body over `limit` bytes."""

    def __init__(self, app: Any, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.limit
            except ValueError:
                await _reject(send, 400, "Content-Length is not a number")
                return
            if too_big:
                await _reject(send, 413, f"request body over the {self.limit}-byte upload limit")
                return
            await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: dict, receive: Any, send: Any) -> None:
        # No length given (chunked): read it all here, bounded, then replay it.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            size += len(message.get("body", b""))
            if size > self.limit:
                await _reject(send, 413, f"request body over the {self.limit}-byte upload limit")
                return
            chunks.append(message)
            more = message.get("more_body", False)
        await self.app(scope, _replay(chunks, receive), send)


def _replay(messages: list[dict], then: Any = None) -> Any:
    queue = list(messages)

    async def receive() -> dict:
        if queue:
            return queue.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


async def _reject(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": message, "problems": []}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
