"""Server-sent events: live status, straight from the event log.

Each logged event the caller may see is sent as it is folded:

    id: 1234
    event: ChunkRendered
    data: {"seq": 1234, "type": "ChunkRendered", "sequence_id": "demo:sq010", "chunk_id": "...", ...}

followed by a `progress` event with the sequence's summary (frames, chunks,
cost, status). The `id` is the log position: reconnect with `Last-Event-ID`
(or `?after=`) to miss nothing. A sequence's stream ends once it is finished
and everything about it was sent; the farm-wide stream runs until the client
leaves. Bulky fields (specs, frame lists, findings) are left out: fetch the
views for those. Events of shows the token does not cover are never sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from orchestrator.api.auth import Principal
from orchestrator.api.deps import ApiContext, Caller, Context, Visible
from orchestrator.api.errors import error_responses
from orchestrator.api.projection import Logged
from orchestrator.api.views import sequence_detail
from orchestrator.core import events as ev

router = APIRouter(tags=["events"])
_KEEP = ("chunk_id", "attempt", "node_id", "gpu_class", "cut", "shot", "segment", "reason", "error", "version", "rule")
_STREAM = {200: {"content": {"text/event-stream": {}}, "description": "A stream of server-sent events"}}
After = Annotated[int | None, Query(ge=0, le=2**62, description="Send events logged after this position.")]
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", include_in_schema=False)]


def compact(logged: Logged) -> dict[str, Any]:
    e = logged.event
    out: dict[str, Any] = {"seq": logged.seq, "type": e.type, "sequence_id": e.sequence_id, "at": e.at}
    for name in _KEEP:
        value = getattr(e, name, None)
        if value is not None:
            out[name] = value
    if isinstance(e, ev.ChunkRendered):
        out["frames"], out["cost_usd"] = len(e.frames), e.cost_usd
    if isinstance(e, ev.CutChecked):
        out["findings"] = len(e.findings)
    return out


def _message(event: str, data: dict[str, Any], ident: int | None = None) -> str:
    head = f"id: {ident}\n" if ident is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _start(after: int | None, last_event_id: str | None, now: int) -> int:
    if after is not None:
        return after
    if last_event_id is not None and last_event_id.isdigit() and len(last_event_id) <= 18:
        return int(last_event_id)
    return now


def _visible(caller: Principal, ctx: ApiContext, event: ev.Record) -> bool:
    if event.sequence_id == ev.FARM:
        return caller.admin
    seq = ctx.view.state.sequences.get(event.sequence_id)
    return seq is not None and caller.may_see(seq.spec.show)


def _progress(ctx: ApiContext, sid: str) -> str:
    seq = ctx.view.state.sequences.get(sid)
    if seq is None:  # retired while the stream was open
        return _message("retired", {"sequence_id": sid})
    detail = sequence_detail(seq, time.time() - ctx.view.live_since, ctx.view.baseline.get(sid, 0))
    return _message("progress", detail.model_dump(mode="json"))


async def _stream(ctx: ApiContext, caller: Principal, sid: str | None, cursor: int) -> AsyncIterator[str]:
    view = ctx.view
    yield f"retry: {int(ctx.settings.poll_interval * 4000)}\n\n"
    if sid is not None:
        yield _progress(ctx, sid)
    while not view.stopping:
        upto = view.last_seq
        if upto > cursor:
            touched: list[str] = []
            for logged in await view.events_between(cursor, upto, sid):
                if _visible(caller, ctx, logged.event):
                    yield _message(logged.event.type, compact(logged), logged.seq)
                    if logged.event.sequence_id != ev.FARM and logged.event.sequence_id not in touched:
                        touched.append(logged.event.sequence_id)
            for touched_sid in touched:
                yield _progress(ctx, touched_sid)
            cursor = upto
            continue
        watched = view.state.sequences.get(sid) if sid is not None else None
        if sid is not None and (watched is None or watched.finished_at is not None):
            return  # finished (or retired) and all told; reconnect after a re-render
        if not await view.wait_beyond(cursor, ctx.settings.keepalive):
            yield ": keepalive\n\n"


def _response(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        body, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


@router.get(
    "/v1/sequences/{sequence_id}/events",
    response_class=StreamingResponse,
    summary="Live events of one sequence (server-sent events)",
    responses=_STREAM | error_responses(401, 404, 422),
)
async def sequence_events(
    ctx: Context, caller: Caller, seq: Visible, after: After = None, last_event_id: LastEventId = None
) -> StreamingResponse:
    cursor = _start(after, last_event_id, ctx.view.last_seq)
    return _response(_stream(ctx, caller, seq.sequence_id, cursor))


@router.get(
    "/v1/events",
    response_class=StreamingResponse,
    summary="Live events of every sequence the token may see (server-sent events)",
    responses=_STREAM | error_responses(401, 422),
)
async def all_events(ctx: Context, caller: Caller, after: After = None, last_event_id: LastEventId = None) -> StreamingResponse:
    cursor = _start(after, last_event_id, ctx.view.last_seq)
    return _response(_stream(ctx, caller, None, cursor))
