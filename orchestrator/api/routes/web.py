"""The web page: static files served as they are (no build step), and a health check.

The page itself carries no data and needs no token to load; everything it
shows it fetches from the API with the token the user types in. It must
never be given data inline (no templating): what it shows comes through the
API's checks like any other client's.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel

from orchestrator.api.deps import Context

WEB = Path(__file__).resolve().parents[2] / "web"
router = APIRouter(tags=["web"])
# The page loads only its own files and talks only to this server; images are blob: URLs.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class SetAside(BaseModel):
    sequence_id: str
    seq: int
    record_type: str
    reason: str


class Health(BaseModel):
    ok: bool
    """False while the view is stopping or degraded."""
    status: Literal["ok", "degraded", "stopping"]
    """degraded: the farm runs, but some sequences are set aside at a record that cannot be folded."""
    log_position: int
    unfoldable: list[SetAside] = []


@router.get("/", response_class=FileResponse, summary="The web page", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(WEB / "index.html", media_type="text/html", headers={"Content-Security-Policy": CSP})


@router.get(
    "/healthz",
    response_model=Health,
    summary="Liveness: the API answers and follows the log",
    description="Always 200 while the server answers (a liveness probe must not restart a degraded farm: "
    "that would not mend the log). `status` is `degraded`, and `ok` false, while any sequence is set "
    "aside at a record that cannot be folded; an operator retires it to clear that.",
)
async def health(ctx: Context) -> Health:
    view = ctx.view
    aside = [SetAside(**dataclasses.asdict(u)) for u in view.state.unfoldable.values()]
    status = "stopping" if view.stopping else "degraded" if aside else "ok"
    return Health(ok=status == "ok", status=status, log_position=view.last_seq, unfoldable=aside[:100])
