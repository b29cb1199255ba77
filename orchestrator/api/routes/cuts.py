"""Cuts of a sequence: each verdict, its findings in plain words, and its two boundary frames."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from orchestrator.api.deps import Visible
from orchestrator.api.errors import error_responses
from orchestrator.api.limits import CUT
from orchestrator.api.views import CutView, cut_view

router = APIRouter(prefix="/v1/sequences/{sequence_id}/cuts", tags=["cuts"])
_ERRORS = error_responses(401, 404, 422)


@router.get("", response_model=list[CutView], summary="Every cut, in timeline order", responses=_ERRORS)
async def list_cuts(seq: Visible) -> list[CutView]:
    order = {s.name: i for i, s in enumerate(seq.spec.timeline)}
    cuts = sorted(seq.cuts.values(), key=lambda c: order.get(c.left, 0))
    return [cut_view(seq, c) for c in cuts]


@router.get("/{cut}", response_model=CutView, summary="One cut (`left>right`)", responses=_ERRORS)
async def get_cut(seq: Visible, cut: Annotated[str, Path(pattern=CUT, max_length=129, examples=["sh010>sh020"])]) -> CutView:
    found = seq.cuts.get(cut)
    if found is None:
        raise HTTPException(404, f"no cut {cut} in this sequence")
    return cut_view(seq, found)
