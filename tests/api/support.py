"""An API server on a loopback port for tests: the real app, over a LocalFarm or a coordinator actor."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from nodes.actors.previs import PrevisNode
from nodes.storage import open_store
from orchestrator.api.app import create_app
from orchestrator.api.auth import TokenTable
from orchestrator.api.farm import Farm, InlinePrevis, LocalFarm
from orchestrator.api.settings import ApiSettings
from orchestrator.config.settings import FarmSettings
from orchestrator.coordinator.actor import CoordinatorActor
from orchestrator.interfaces.embedded import LOG_NAME

DEMO = "demo-token-0123456789abcdef"
OTHER = "other-token-0123456789abcdef"
ADMIN = "admin-token-0123456789abcdef"
TOKENS = f"{DEMO}=demo;{OTHER}=other;{ADMIN}=*"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Live:
    url: str
    out: Path
    app: Any
    coordinator: Any = None

    def client(self, token: str | None = DEMO, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=bearer(token) if token else {}, timeout=60, **kwargs)


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run `app` under uvicorn on a free loopback port in a thread; stop it on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def local_app(out: Path, previs: bool = False, **settings: Any) -> tuple[Any, CoordinatorActor]:
    """The real app over a Coordinator in this process with no nodes (nothing renders)."""
    coordinator = CoordinatorActor(str(out / LOG_NAME), str(out), FarmSettings())
    tokens = TokenTable.load(None, {"SHOTFARM_TOKENS": TOKENS})
    app = build_app(out, LocalFarm(coordinator), tokens, previs=previs, **settings)
    return app, coordinator


def build_app(out: Path, farm: Farm, tokens: TokenTable | None = None, previs: bool = False, **settings: Any) -> Any:
    tokens = tokens or TokenTable.load(None, {"SHOTFARM_TOKENS": TOKENS})
    node = InlinePrevis(PrevisNode(str(out))) if previs else None
    api_settings = ApiSettings(out=out, poll_interval=0.05, keepalive=1.0, **settings)
    return create_app(api_settings, tokens, farm, open_store(str(out)), node)


@contextlib.contextmanager
def local_server(out: Path, previs: bool = False, **settings: Any) -> Iterator[Live]:
    app, coordinator = local_app(out, previs, **settings)
    try:
        with serving(app) as url:
            yield Live(url=url, out=out, app=app, coordinator=coordinator)
    finally:
        asyncio.run(coordinator.shutdown())  # closes the log and lets go of its lock
