"""Editorial submissions: an OpenTimelineIO or CMX3600 EDL cut plus a scene mapping.

The cut decides the shots' frame ranges, dissolves, grades and notes; the
mapping (JSON or YAML, see pipelines.editorial.mapping) decides the sets and
cameras. With `dry_run` nothing is submitted: the answer shows the sequence
the cut would become. After a submission the import record (clip -> shot,
source ranges, notes, warnings) is kept in the store beside the sequence.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import PurePath
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, File, Form, HTTPException, Response, UploadFile
from pydantic import BaseModel

from orchestrator.api.deps import Caller, Context
from orchestrator.api.documents import off_loop
from orchestrator.api.errors import error_responses
from orchestrator.api.routes.sequences import submit_sequence
from orchestrator.api.views import Submitted
from orchestrator.core import layout
from orchestrator.scheduling.ids import sequence_id
from pipelines.editorial.cut import EditorialCut
from pipelines.editorial.edl import read_edl
from pipelines.editorial.mapping import ImportedCut, ShotOrigin, build_sequence, parse_mapping
from pipelines.editorial.otio import read_otio
from pipelines.spec.documents import read_document

router = APIRouter(prefix="/v1/editorial", tags=["editorial"])
_FORMATS = {".otio": "otio", ".edl": "edl"}


class EditorialImport(BaseModel):
    sequence_id: str
    submitted: Submitted | None
    """None for a dry run."""
    spec: dict
    shots: list[ShotOrigin]
    warnings: list[str]


def _format(name: str, given: str) -> str:
    if given != "auto":
        return given
    found = _FORMATS.get(PurePath(name).suffix.lower())
    if found is None:
        raise HTTPException(422, f"{name}: cannot tell the format from the name; send format=otio or format=edl")
    return found


def read_cut(data: bytes, name: str, kind: str, fps: Fraction | None, track: int) -> EditorialCut:
    if kind == "otio":
        return read_otio(data, name, track)
    return read_edl(data, name, fps or Fraction(24), track)  # an EDL has no rate of its own


async def record_import(ctx: Context, imported: ImportedCut, extra: dict | None = None) -> None:
    """Keep the import record beside the sequence (notes for the shot views)."""
    spec = imported.spec
    record = {"shots": [o.model_dump(mode="json") for o in imported.shots], "warnings": list(imported.warnings)}
    key = layout.editorial_import(spec.show, spec.sequence)
    await anyio.to_thread.run_sync(ctx.store.put, key, json.dumps(record | (extra or {}), indent=1).encode())
    ctx.notes.pop(sequence_id(spec.show, spec.sequence), None)


@router.post(
    "",
    response_model=EditorialImport,
    status_code=201,
    summary="Submit a cut list (.otio or CMX3600 .edl) with a scene mapping",
    responses={200: {"model": EditorialImport, "description": "Dry run: nothing was submitted"}}
    | error_responses(400, 401, 403, 409, 413, 422, 503),
)
async def submit_cut(
    ctx: Context,
    caller: Caller,
    response: Response,
    cut: Annotated[UploadFile, File(description="The cut list: an .otio file or a CMX3600 .edl")],
    mapping: Annotated[str, Form(min_length=1, description="The scene mapping, JSON or YAML")],
    format: Annotated[Literal["auto", "otio", "edl"], Form(description="auto: from the file name")] = "auto",
    dry_run: Annotated[bool, Form()] = False,
) -> EditorialImport:
    name = PurePath(cut.filename or "cut").name[:128] or "cut"
    data = await off_loop(read_document, mapping.encode(), "mapping")
    scene_mapping = await off_loop(parse_mapping, data, "mapping")
    if not caller.may_see(scene_mapping.show):
        raise HTTPException(403, f"this token may not submit for show {scene_mapping.show!r}")
    data = await cut.read()
    kind = _format(name, format)
    # Parsing a long cut list is seconds of CPU: off the event loop, which serves live streams.
    editorial = await anyio.to_thread.run_sync(read_cut, data, name, kind, scene_mapping.fps, scene_mapping.track)
    imported = await anyio.to_thread.run_sync(build_sequence, editorial, scene_mapping)
    sid = sequence_id(imported.spec.show, imported.spec.sequence)
    submitted = None
    if dry_run:
        response.status_code = 200
    else:
        submitted = await submit_sequence(ctx, caller, imported.spec, response)
        await record_import(ctx, imported, {"source": name})
    return EditorialImport(
        sequence_id=sid,
        submitted=submitted,
        spec=imported.spec.model_dump(mode="json"),
        shots=list(imported.shots),
        warnings=list(imported.warnings),
    )
