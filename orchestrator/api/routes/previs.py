"""Previs submissions: a movie in, proposed shots out; the user accepts them as a sequence.

1. POST /v1/previs (multipart: `show`, `movie`) stores the movie under the
   show's `_previs/<id>/` in the store and has the PrevisNode find its cuts;
   the answer (and the store) keep the proposal: transitions and shots.
2. POST /v1/previs/{show}/{previs_id}/accept with a scene mapping turns the
   proposal into a sequence and submits it.

The movie never passes through Ray: the node reads it from the store.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from pathlib import PurePath
from typing import Annotated

import anyio
from fastapi import APIRouter, File, Form, HTTPException, Path, Request, Response, UploadFile
from pydantic import BaseModel

from nodes.actors.previs import PrevisOrder, PrevisProposal
from nodes.storage.base import ObjectMissing
from orchestrator.api.deps import ApiContext, Caller, Context, require_show
from orchestrator.api.documents import JSON_TYPES, YAML_TYPES, media_type, off_loop, read_body
from orchestrator.api.errors import error_responses
from orchestrator.api.farm import Previs
from orchestrator.api.limits import NAME, PREVIS_ID
from orchestrator.api.routes.editorial import EditorialImport, record_import
from orchestrator.api.routes.sequences import submit_sequence
from orchestrator.core import layout
from pipelines.editorial.mapping import build_sequence, parse_mapping
from pipelines.spec.documents import read_document
from pipelines.spec.loading import SpecError

router = APIRouter(prefix="/v1/previs", tags=["previs"])
Show = Annotated[str, Path(pattern=NAME, max_length=64, examples=["demo"])]
PrevisId = Annotated[str, Path(pattern=PREVIS_ID, description="As returned by POST /v1/previs")]
_EXT = re.compile(r"^\.[a-z0-9]{1,8}$")


class Proposal(BaseModel):
    previs_id: str
    show: str
    accept_url: str
    proposal: PrevisProposal


def _previs(ctx: ApiContext) -> Previs:
    if ctx.previs is None:
        raise HTTPException(503, "this server has no previs node")
    return ctx.previs


@router.post(
    "",
    response_model=Proposal,
    status_code=201,
    summary="Upload a previs or reference movie; get proposed shots from its cuts",
    responses=error_responses(400, 401, 403, 413, 422, 503),
)
async def propose(
    ctx: Context,
    caller: Caller,
    show: Annotated[str, Form(pattern=NAME, max_length=64, description="The show the sequence will belong to")],
    movie: Annotated[UploadFile, File(description="Any movie PyAV reads (mp4, mov, mkv, ...)")],
) -> Proposal:
    require_show(caller, show)
    previs = _previs(ctx)
    name = PurePath(movie.filename or "movie").name[:128] or "movie"
    ext = PurePath(name).suffix.lower()
    previs_id = secrets.token_hex(8)
    key = f"{layout.previs_prefix(show, previs_id)}/movie{ext if _EXT.match(ext) else ''}"
    data = await movie.read()
    await anyio.to_thread.run_sync(ctx.store.put, key, data)
    order = PrevisOrder(key=key, name=name, max_frames=ctx.settings.previs_max_frames)
    try:
        proposal = await previs.propose(order)
    except BaseException:
        # Nothing refused is kept: the movie goes, whatever stopped its proposal.
        with contextlib.suppress(Exception):
            await anyio.to_thread.run_sync(ctx.store.delete, key)
        raise
    body = proposal.model_dump_json(indent=1).encode()
    await anyio.to_thread.run_sync(ctx.store.put, f"{layout.previs_prefix(show, previs_id)}/proposal.json", body)
    return Proposal(
        previs_id=previs_id, show=show, accept_url=f"/v1/previs/{show}/{previs_id}/accept", proposal=proposal
    )


async def _load(ctx: ApiContext, caller: Caller, show: str, previs_id: str) -> PrevisProposal:
    if not caller.may_see(show):
        raise HTTPException(404, "no such previs proposal")
    try:
        data = await anyio.to_thread.run_sync(ctx.store.get, f"{layout.previs_prefix(show, previs_id)}/proposal.json")
    except ObjectMissing:
        raise HTTPException(404, "no such previs proposal") from None
    return PrevisProposal.model_validate_json(data)


@router.get(
    "/{show}/{previs_id}", response_model=PrevisProposal, summary="A proposal again", responses=error_responses(401, 404, 422)
)
async def get_proposal(ctx: Context, caller: Caller, show: Show, previs_id: PrevisId) -> PrevisProposal:
    return await _load(ctx, caller, show, previs_id)


@router.post(
    "/{show}/{previs_id}/accept",
    response_model=EditorialImport,
    status_code=201,
    summary="Accept the proposed shots as a sequence, shot as the scene mapping says",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A scene mapping (see docs/api.md); its `show` must be the proposal's.",
            "content": {"application/json": {"schema": {"type": "object"}}, "application/yaml": {"schema": {"type": "object"}}},
        }
    },
    responses=error_responses(401, 403, 404, 409, 413, 415, 422, 503),
)
async def accept(
    request: Request, response: Response, ctx: Context, caller: Caller, show: Show, previs_id: PrevisId
) -> EditorialImport:
    proposal = await _load(ctx, caller, show, previs_id)
    kind = media_type(request.headers.get("content-type"))
    if kind not in JSON_TYPES + YAML_TYPES:
        raise HTTPException(415, "send the mapping as application/json or application/yaml")
    data = await off_loop(read_document, await read_body(request, "mapping"), "mapping", kind in YAML_TYPES)
    mapping = await off_loop(parse_mapping, data)
    if mapping.show != show:
        raise SpecError("mapping", [("show", f"is {mapping.show!r}, but the proposal is for show {show!r}")])
    imported = await off_loop(build_sequence, proposal.cut, mapping)
    submitted = await submit_sequence(ctx, caller, imported.spec, response)
    await record_import(ctx, imported, {"source": proposal.name, "previs_id": previs_id})
    return EditorialImport(
        sequence_id=submitted.sequence_id,
        submitted=submitted,
        spec=imported.spec.model_dump(mode="json"),
        shots=list(imported.shots),
        warnings=list(imported.warnings),
    )
