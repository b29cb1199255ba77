"""/metrics: the farm's Prometheus metrics, as folded from the event log by FarmView.

Admin tokens only: series are labelled by show and sequence, which other
shows' tokens must not learn. Prometheus sends the token with
`authorization: {credentials_file: ...}` in its scrape config.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from orchestrator.api.deps import Admin, Context
from orchestrator.api.errors import error_responses

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics (text exposition format)",
    responses={200: {"content": {"text/plain": {}}, "description": "Metrics"}} | error_responses(401, 403),
)
async def metrics(ctx: Context, admin: Admin) -> Response:
    body, content_type = ctx.view.metrics.exposition()
    return Response(body, media_type=content_type)
