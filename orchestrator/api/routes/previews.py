"""PNG previews of stored frames, for eyes (thumbnails, the web page).

A shot frame is read from the store by the key and digest its chunk's event
recorded (a frame that does not match the log is never shown), graded as
the master grades it, and shown through the pinned config's sRGB ACES 2.0
view (pipelines.color.display), as the contact sheet and the continuity
report are; master frames are shown as stitched.
Decoding runs in a worker thread; recent previews are cached by digest.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from typing import Annotated

import anyio
from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import Response
from PIL import Image

from nodes.storage.base import DigestMismatch, ObjectMissing, Store, get_verified
from orchestrator.api.deps import Context, Visible
from orchestrator.api.errors import error_responses
from orchestrator.api.limits import MAX_FRAME, NAME
from orchestrator.core.events import FrameRecord
from pipelines.color.cdl import CDL
from pipelines.color.display import thumbnail
from pipelines.exr import FrameDecodeError, decode_frame

router = APIRouter(prefix="/v1/sequences/{sequence_id}", tags=["previews"])
ShotName = Annotated[str, Path(pattern=NAME, max_length=64, examples=["sh010"])]
Frame = Annotated[int, Path(ge=0, le=MAX_FRAME, examples=[1001])]
Width = Annotated[int, Query(ge=16, le=4096, description="Width in pixels; the aspect is kept.")]
Exposure = Annotated[float, Query(ge=-16, le=16, description="Stops added before tone mapping.")]
_PNG = {200: {"content": {"image/png": {}}, "description": "A PNG picture"}}
_ERRORS = _PNG | error_responses(401, 404, 422)
_CACHE: OrderedDict[tuple, bytes] = OrderedDict()
_CACHE_SIZE = 512


def _render(store: Store, record: FrameRecord, grades: tuple[CDL, ...], width: int, exposure: float) -> bytes:
    try:
        pixels, _ = decode_frame(get_verified(store, record.key, record.digest))
    except (ObjectMissing, DigestMismatch, FrameDecodeError) as e:
        raise HTTPException(404, f"frame {record.frame} is not readable from the store: {type(e).__name__}") from None
    for grade in grades:
        pixels = grade.apply(pixels)
    buf = io.BytesIO()
    Image.fromarray(thumbnail(pixels, width, exposure)).save(buf, format="PNG")
    return buf.getvalue()


async def _png(ctx: Context, record: FrameRecord, grades: tuple[CDL, ...], width: int, exposure: float) -> Response:
    width = min(width, ctx.settings.preview_max_width)
    key = (record.digest, tuple(g.as_asc_sop() + str(g.saturation) for g in grades), width, exposure)
    png = _CACHE.get(key)
    if png is None:
        png = await anyio.to_thread.run_sync(_render, ctx.store, record, grades, width, exposure)
        _CACHE[key] = png
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    # Keyed by content: the same URL shows a new picture after a re-render, so no long caching.
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=5"})


@router.get(
    "/shots/{shot}/frames/{frame}/preview.png",
    response_class=Response,
    summary="A rendered frame of a shot, graded and tone mapped",
    responses=_ERRORS,
)
async def shot_frame(
    ctx: Context, seq: Visible, shot: ShotName, frame: Frame, width: Width = 320, exposure: Exposure = 0.0
) -> Response:
    if shot not in seq.versions:
        raise HTTPException(404, f"no shot {shot} in this sequence")
    record = seq.frame_record(shot, frame)
    if record is None:
        raise HTTPException(404, f"frame {frame} of {shot} is not rendered (yet)")
    return await _png(ctx, record, seq.grades(shot), width, exposure)


@router.get(
    "/master/frames/{frame}/preview.png",
    response_class=Response,
    summary="A frame of the stitched master, tone mapped",
    responses=_ERRORS,
)
async def master_frame(ctx: Context, seq: Visible, frame: Frame, width: Width = 320, exposure: Exposure = 0.0) -> Response:
    for segment in seq.segments.values():
        for record in segment.frames:
            if record.frame == frame:
                return await _png(ctx, record, (), width, exposure)
    raise HTTPException(404, f"master frame {frame} is not stitched (yet)")


@router.get(
    "/contact-sheet.png",
    response_class=Response,
    summary="The master's contact sheet: one labelled thumbnail per shot",
    responses=_ERRORS,
)
async def contact_sheet(ctx: Context, seq: Visible) -> Response:
    if seq.master is None:
        raise HTTPException(404, "the master is not stitched yet")
    sheet = seq.master.contact_sheet
    try:
        data = await anyio.to_thread.run_sync(get_verified, ctx.store, sheet.key, sheet.digest)
    except (ObjectMissing, DigestMismatch):
        raise HTTPException(404, "the contact sheet is not readable from the store") from None
    return Response(data, media_type="image/png")
