"""Shots and chunks of a sequence: per-shot and per-chunk status, and re-rendering a shot."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from nodes.storage.base import InvalidKey, ObjectMissing
from orchestrator.api.deps import Context, Visible
from orchestrator.api.errors import error_responses
from orchestrator.api.limits import NAME
from orchestrator.api.views import ChunkView, ShotDetail, ShotView, chunk_view, shot_view
from orchestrator.core import layout
from orchestrator.core.state import SequenceState

router = APIRouter(prefix="/v1/sequences/{sequence_id}", tags=["shots"])
ShotName = Annotated[str, Path(pattern=NAME, max_length=64, description="A shot of the sequence", examples=["sh010"])]
_ERRORS = error_responses(401, 404, 422)


def editorial_key(seq: SequenceState) -> str:
    return layout.editorial_import(seq.spec.show, seq.spec.sequence)


def notes_of(ctx: Context, seq: SequenceState) -> dict[str, tuple[str, ...]]:
    """Editorial notes (markers) per shot, recorded at submission; read from the store once."""
    cached = ctx.notes.get(seq.sequence_id)
    if cached is None:
        try:
            record = json.loads(ctx.store.get(editorial_key(seq)))
            cached = {o["shot"]: tuple(o.get("notes", ())) for o in record.get("shots", [])}
        except (ObjectMissing, InvalidKey, ValueError, KeyError, TypeError, AttributeError):
            cached = {}  # not submitted from a cut list, or an unreadable record: no notes
        ctx.notes[seq.sequence_id] = cached
    return cached


def _shot(ctx: Context, seq: SequenceState, name: str, detail: bool = False) -> ShotView:
    if name not in seq.versions and name not in {s.name for s in seq.spec.shots}:
        raise HTTPException(404, f"no shot {name} in this sequence")
    retired = ctx.view.retired_by_shot.get(seq.sequence_id, {}).get(name, 0.0)
    return shot_view(seq, name, retired, notes_of(ctx, seq).get(name, ()), detail=detail)


@router.get("/shots", response_model=list[ShotView], summary="Every shot, in timeline order", responses=_ERRORS)
async def list_shots(ctx: Context, seq: Visible) -> list[ShotView]:
    return [_shot(ctx, seq, s.name) for s in seq.spec.timeline]


@router.get("/shots/{shot}", response_model=ShotDetail, summary="One shot with its chunks", responses=_ERRORS)
async def get_shot(ctx: Context, seq: Visible, shot: ShotName) -> ShotView:
    return _shot(ctx, seq, shot, detail=True)


@router.get("/chunks", response_model=list[ChunkView], summary="Every chunk, by shot and frame", responses=_ERRORS)
async def list_chunks(seq: Visible) -> list[ChunkView]:
    chunks = sorted(seq.chunks.values(), key=lambda c: (c.plan.shot, c.plan.frames.first))
    return [chunk_view(c) for c in chunks]


@router.post(
    "/shots/{shot}/rerender",
    response_model=ShotView,
    status_code=202,
    summary="Render a shot again as a new version",
    description="Only its master segments and the deliverables are rebuilt afterwards.",
    responses=error_responses(401, 404, 409, 422, 503),
)
async def rerender(ctx: Context, seq: Visible, shot: ShotName) -> ShotView:
    _shot(ctx, seq, shot)  # 404 before anything is asked of the farm
    if seq.status.value in ("failed", "cancelled"):
        raise HTTPException(409, f"{seq.sequence_id} is {seq.status.value}; submit it again to render it")
    await ctx.farm.rerender(seq.sequence_id, shot)
    await ctx.view.catch_up()
    return _shot(ctx, ctx.view.state.sequences[seq.sequence_id], shot)
