"""The app factory: a FastAPI application over one farm.

Everything the app uses is passed in (settings, tokens, the farm, the store,
the previs node); nothing is read from globals, so a test builds an app on
a LocalFarm exactly as the server builds one on the coordinator actor. The
lifespan follows the event log (FarmView) for as long as the app runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

from nodes.storage.base import Store
from orchestrator.api import errors
from orchestrator.api.auth import TokenTable
from orchestrator.api.deps import ApiContext
from orchestrator.api.farm import Farm, Previs
from orchestrator.api.limits import BodyLimit
from orchestrator.api.projection import FarmView
from orchestrator.api.routes import cuts, editorial, events, metrics, previews, previs, sequences, shots, web
from orchestrator.api.settings import ApiSettings
from orchestrator.config.settings import FarmSettings
from pipelines.spec.sequence import Sequence

DESCRIPTION = """Submit sequences (JSON/YAML specs, OpenTimelineIO or CMX3600 cut lists with a
scene mapping, or a previs movie), follow them live, and look at what they made.

Every endpoint but `/`, `/healthz` and this schema needs `Authorization: Bearer <token>`;
a token sees the shows it is scoped to (`*`: all, and /metrics). Errors are
`{"error": ..., "problems": [{"path": ..., "message": ...}]}`."""


def create_app(
    settings: ApiSettings,
    tokens: TokenTable,
    farm: Farm,
    store: Store,
    previs_node: Previs | None = None,
    farm_settings: FarmSettings = FarmSettings(),
) -> FastAPI:
    view = FarmView(farm, prices=farm_settings.prices, engine=farm_settings.engine, policy=farm_settings.policy)
    ctx = ApiContext(settings=settings, tokens=tokens, farm=farm, view=view, store=store, previs=previs_node)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await view.catch_up()  # views are whole from the first request
        follower = asyncio.create_task(view.run(settings.poll_interval))
        try:
            yield
        finally:
            view.stop()
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower

    app = FastAPI(title="shotfarm", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.state.shotfarm = ctx
    errors.install(app)
    for module in (sequences, shots, cuts, previews, events, editorial, previs, metrics, web):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=web.WEB / "static"), name="static")
    app.add_middleware(BodyLimit, limit=settings.upload_limit)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, plus the Sequence spec that submissions carry (read from the raw body)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    spec = Sequence.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in spec.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components["Sequence"] = spec
    app.openapi_schema = schema
    return schema
