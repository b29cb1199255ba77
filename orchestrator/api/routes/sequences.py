"""Sequences: submit a spec (JSON or YAML), list, read, cancel, and what they cost so far."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.api.deps import NOT_FOUND, Caller, Context, SequenceId, Visible, require_show
from orchestrator.api.documents import JSON_TYPES, YAML_TYPES, media_type, off_loop, read_body
from orchestrator.api.errors import error_responses
from orchestrator.api.views import (
    CostView,
    SequenceDetail,
    SequenceSummary,
    Submitted,
    cost_view,
    seq_path,
    sequence_detail,
    sequence_summary,
)
from orchestrator.scheduling.ids import sequence_id as sequence_id_from
from orchestrator.scheduling.ids import show_of
from pipelines.spec.documents import read_document
from pipelines.spec.loading import parse_sequence
from pipelines.spec.sequence import Sequence

router = APIRouter(prefix="/v1/sequences", tags=["sequences"])
_FINISHED = ("completed", "failed", "cancelled")


def _spec_body() -> dict:
    ref = {"$ref": "#/components/schemas/Sequence"}
    return {
        "requestBody": {
            "required": True,
            "description": "A sequence spec (see `shotfarm schema`), as JSON or YAML.",
            "content": {"application/json": {"schema": ref}, "application/yaml": {"schema": ref}},
        }
    }


async def submit_sequence(ctx: Context, caller: Caller, sequence: Sequence, response: Response) -> Submitted:
    """Submit a validated sequence for the caller; the same spec again is accepted and resumes it."""
    require_show(caller, sequence.show)
    sid = sequence_id_from(sequence.show, sequence.sequence)
    await ctx.view.catch_up()
    existed = sid in ctx.view.state.sequences
    sid = await ctx.farm.submit(sequence.model_dump(mode="json"))
    await ctx.view.catch_up()
    seq = ctx.view.state.sequences[sid]
    response.status_code = 200 if existed else 201
    return Submitted(sequence_id=sid, created=not existed, status=seq.status, url=seq_path(sid))


@router.post(
    "",
    response_model=Submitted,
    status_code=201,
    summary="Submit a sequence spec",
    description="201 when the sequence is new, 200 when the same spec was already submitted "
    "(it resumes). A different spec under the same `show:sequence` is refused with 409.",
    openapi_extra=_spec_body(),
    responses={200: {"model": Submitted, "description": "Already submitted with this spec"}}
    | error_responses(401, 403, 409, 413, 415, 422, 503),
)
async def submit(request: Request, response: Response, ctx: Context, caller: Caller) -> Submitted:
    kind = media_type(request.headers.get("content-type"))
    if kind not in JSON_TYPES + YAML_TYPES:
        raise HTTPException(415, "send the spec as application/json or application/yaml")
    source = "spec.json" if kind in JSON_TYPES else "spec.yaml"
    data = await off_loop(read_document, await read_body(request, source), source, kind in YAML_TYPES)
    sequence = await off_loop(parse_sequence, data, source)
    return await submit_sequence(ctx, caller, sequence, response)


@router.get("", response_model=list[SequenceSummary], summary="Sequences the token may see", responses=error_responses(401))
async def list_sequences(ctx: Context, caller: Caller) -> list[SequenceSummary]:
    seqs = [s for s in ctx.view.state.sequences.values() if caller.may_see(s.spec.show)]
    return [sequence_summary(s) for s in sorted(seqs, key=lambda s: (s.submitted_at, s.sequence_id))]


@router.get("/{sequence_id}", response_model=SequenceDetail, summary="One sequence", responses=error_responses(401, 404, 422))
async def get_sequence(ctx: Context, seq: Visible) -> SequenceDetail:
    view = ctx.view
    return sequence_detail(seq, time.time() - view.live_since, view.baseline.get(seq.sequence_id, 0))


@router.get(
    "/{sequence_id}/cost", response_model=CostView, summary="Cost so far", responses=error_responses(401, 404, 422)
)
async def get_cost(ctx: Context, seq: Visible) -> CostView:
    sid = seq.sequence_id
    return cost_view(seq, dict(ctx.view.retired_by_shot.get(sid, {})), dict(ctx.view.by_gpu_class.get(sid, {})))


@router.post(
    "/{sequence_id}/cancel",
    response_model=SequenceSummary,
    status_code=202,
    summary="Cancel: stop dispatching; chunks on nodes finish and are ignored",
    responses=error_responses(401, 404, 409, 422, 503),
)
async def cancel(ctx: Context, seq: Visible) -> SequenceSummary:
    if seq.status.value in _FINISHED:
        raise HTTPException(409, f"{seq.sequence_id} is already {seq.status.value}")
    await ctx.farm.cancel(seq.sequence_id)
    await ctx.view.catch_up()
    return sequence_summary(ctx.view.state.sequences[seq.sequence_id])


class Retirement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1024, description="Why; it stays in the event log.")


class Retired(BaseModel):
    sequence_id: str
    retired: bool = True


@router.post(
    "/{sequence_id}/retire",
    response_model=Retired,
    status_code=202,
    summary="Retire a sequence: set aside for good, its id free for a new submission",
    description="For a sequence set aside at a record that cannot be folded (see /healthz), or a finished one. "
    "Recorded in the log as SequenceRetired with the reason and the token's name; nothing is deleted.",
    responses=error_responses(401, 404, 409, 422, 503),
)
async def retire(ctx: Context, caller: Caller, sequence_id: SequenceId, body: Retirement) -> Retired:
    # An unfoldable submission has no state to read the show from: the id names it.
    if not caller.may_see(show_of(sequence_id)):
        raise HTTPException(404, NOT_FOUND)
    await ctx.view.catch_up()
    if sequence_id not in ctx.view.state.sequences and sequence_id not in ctx.view.state.unfoldable:
        raise HTTPException(404, NOT_FOUND)
    await ctx.farm.retire(sequence_id, body.reason, caller.name)
    await ctx.view.catch_up()
    return Retired(sequence_id=sequence_id)
