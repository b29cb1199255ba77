"""The web page: static files served as they are (no build step), and a health check.

The page itself carries no data and needs no token to load; everything it
shows it fetches from the API with the token the user types in. It must
never be given data inline (no templating): what it shows comes through the
API's checks like any other client's.
"""

from __future__ import annotations

from pathlib import Path

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


class Health(BaseModel):
    ok: bool
    log_position: int


@router.get("/", response_class=FileResponse, summary="The web page", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(WEB / "index.html", media_type="text/html", headers={"Content-Security-Policy": CSP})


@router.get("/healthz", response_model=Health, summary="Liveness: the API answers and follows the log")
async def health(ctx: Context) -> Health:
    return Health(ok=not ctx.view.stopping, log_position=ctx.view.last_seq)
