"""`shotfarm serve`: a long-lived farm with its REST API and web page.

Starts local Ray (or joins the one already initialised), one Coordinator
actor on the output folder's event log with its render, check and master
nodes, a PrevisNode, and the FastAPI app under uvicorn. SIGINT and SIGTERM
stop it cleanly: open requests finish (event streams are cut after a few
seconds), the coordinator lets go of the log, the actors are stopped.

In a cluster (`--join`, `--cluster`; see cluster/mode.py) it joins the Ray
cluster as a node that offers no CPU or GPU, so the coordinator stays beside
its event log, and scales the GPU worker groups to the queue.

Exit codes as the rest of the CLI: 0 after a clean stop, 2 for bad input
(flags, token configuration, an output folder or port that cannot be used,
a log another farm holds), never a traceback for those.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator
from typing import Any

import ray
import uvicorn
from pydantic import ValidationError

from nodes.actors.previs import start_previs_node
from nodes.storage import open_store
from orchestrator.api import access_log
from orchestrator.api.app import create_app
from orchestrator.api.auth import TokenConfigError, TokenTable
from orchestrator.api.farm import RayFarm, RayPrevis
from orchestrator.api.settings import ApiSettings, MiB
from orchestrator.cluster.adapter import ClusterAPI
from orchestrator.cluster.mode import cluster_api, join_ray, namespace
from orchestrator.cluster.operator import Scaler
from orchestrator.cluster.raynodes import placement
from orchestrator.cluster.scaling import Placement
from orchestrator.config.farm_file import load_farm
from orchestrator.config.settings import FarmSettings, PoolSettings
from orchestrator.coordinator.failures import cause_of
from orchestrator.core.admission import BadRequest
from orchestrator.eventlog.location import describe, is_server_log, reachable
from orchestrator.interfaces import standby
from orchestrator.interfaces.embedded import LOG_NAME, OutputNotWritable, ensure_ray, prepare_out, start_coordinator
from pipelines.spec.loading import SpecError

EXIT_BAD_INPUT = 2
log = logging.getLogger(__name__)
_FLAGS = {"tokens_file": "--tokens", "store_url": "--store"}
"""Settings fields named by the flag that sets them, for messages."""


class _Server(uvicorn.Server):
    """uvicorn that stops on SIGINT/SIGTERM without re-raising them afterwards (we clean up first)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _settings(args: argparse.Namespace) -> ApiSettings:
    if args.upload_limit_mb < 1:
        raise ValueError(f"--upload-limit-mb must be at least 1, got {args.upload_limit_mb}")
    return ApiSettings(
        host=args.host,
        port=args.port,
        tokens_file=args.tokens,
        upload_limit=args.upload_limit_mb * MiB,
        out=args.out,
        store_url=args.store,
    )


def _flag(field: str) -> str:
    return _FLAGS.get(field, "--" + field.replace("_", "-"))


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None
    sock.set_inheritable(True)
    return sock


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def serve_main(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
        tokens = TokenTable.load(settings.tokens_file, variable=settings.tokens_env)
        out = prepare_out(settings.out)
        log_url = args.log or out / LOG_NAME
        reachable(log_url)  # a PostgreSQL log that cannot be reached is said here, before Ray starts
        store = open_store(settings.store)
        farm_settings = _farm_settings(args)
        api = cluster_api(args.kube_context) if args.cluster else None
        sock = _listen(settings.host, settings.port)
        if args.join:
            try:
                join_ray(args.join, farm_settings.timeouts.call)
            except ValueError:
                sock.close()
                raise
    except SpecError as e:
        return _fail(e.render())
    except ValidationError as e:
        return _fail("; ".join(f"{_flag(str(x['loc'][0]))}: {x['msg']}" for x in e.errors()))
    except (TokenConfigError, OutputNotWritable, ValueError) as e:
        return _fail(str(e))
    except OSError as e:
        return _fail(str(e))
    lease = None
    if is_server_log(log_url):  # a PostgreSQL log may have another serve leading it: wait as its standby
        try:
            address = standby.advertised(*sock.getsockname()[:2])
            lease = standby.lead(str(log_url), sock, address, getattr(args, "log_format", None) == "json")
        except KeyboardInterrupt:
            sock.close()
            return 0
        # Renewed from here on; a leader whose lease another serve took stops itself (SIGTERM: a clean stop).
        lease.keep(lost=lambda: os.kill(os.getpid(), signal.SIGTERM))
    # A served farm logs to stdout, the stream a container's log collector reads (interfaces.logs).
    # The cluster joined by its own address: "auto" would take whichever cluster this machine started last.
    ensure_ray(args.cpus, farm_settings.farm, address=args.join, worker_logs=sys.stdout)
    actors: list[Any] = []
    scaler: Scaler | None = None
    try:
        coordinator = start_coordinator(log_url, settings.store, farm_settings, fence=lease.token if lease else None)
        actors.append(coordinator)
        resources = ray.cluster_resources()
        timeout = farm_settings.timeouts.call + farm_settings.timeouts.lock
        try:
            nodes = ray.get(
                coordinator.start.remote(int(resources.get("CPU", 1)), int(resources.get("GPU", 0))), timeout=timeout
            )
        except Exception as e:
            cause = cause_of(e)
            if isinstance(cause, BadRequest):
                return _fail(str(cause))
            raise
        if api is not None:
            scaler = _scaler(api, coordinator, farm_settings, args).start()
        previs = start_previs_node(settings.store, farm_settings.timeouts.call)
        actors.append(previs)
        app = create_app(
            settings,
            tokens,
            RayFarm(coordinator, settings.call_timeout),
            store,
            RayPrevis(previs, settings.previs_timeout),
            farm_settings,
        )
        host, port = sock.getsockname()[:2]
        serving = (
            f"serving http://{host}:{port}/ with {len(nodes)} render node(s); "
            f"log {describe(log_url)}, store {settings.store}, {len(tokens)} token(s)"
        )
        if getattr(args, "log_format", None) == "json":
            log.info(serving)  # a JSON log stays one object per line
        else:
            print(f"shotfarm: {serving}", file=sys.stderr)
        # No logging config of uvicorn's own: its loggers propagate to the one `shotfarm --log-level/--log-format` set up.
        config = uvicorn.Config(app, log_config=None, log_level=None, timeout_graceful_shutdown=3, lifespan="on")
        access_log.install()  # after Config, which would otherwise set uvicorn's loggers up
        _Server(config).run(sockets=[sock])
        return 0
    finally:
        sock.close()
        if scaler is not None:
            scaler.stop()
        _stop(actors, farm_settings.timeouts.call)
        if lease is not None:
            lease.release()  # at once, so that a standby need not wait for the lease to run out


def _farm_settings(args: argparse.Namespace) -> FarmSettings:
    farm = load_farm(args.farm) if args.farm else None
    return FarmSettings(
        chunk_frames=args.chunk_frames,
        metrics_port=args.metrics_port,
        metrics_addr=args.metrics_addr,
        farm=farm,
        # In a cluster a class's nodes are placed when its worker group scales up to the queue.
        pool=PoolSettings(wait_for_nodes=not args.cluster),
    )


def _scaler(api: ClusterAPI, coordinator: Any, settings: FarmSettings, args: argparse.Namespace) -> Scaler:
    def demand() -> dict[str, int]:
        return ray.get(coordinator.demand.remote(), timeout=settings.timeouts.call)

    def where() -> Placement:  # read only by a pass that lowers a group: which pods it must spare
        return placement(ray.get(coordinator.holding.remote(), timeout=settings.timeouts.call))

    return Scaler(
        api,
        demand,
        settings.prices,
        args.gpu_budget,
        args.scale_interval,
        name=args.raycluster,
        namespace=namespace(args.namespace),
        placement=where,
    )


def _stop(actors: list[Any], timeout: float) -> None:
    if actors:
        with contextlib.suppress(Exception):  # stopping anyway; the log is already durable
            ray.get(actors[0].shutdown.remote(), timeout=timeout)
    for actor in actors:
        with contextlib.suppress(Exception):
            ray.kill(actor)
