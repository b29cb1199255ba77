"""Logs an operator reads: one level and one format for the driver and every Ray worker.

`shotfarm --log-level info --log-format json ...` configures Python logging
in this process and, through the environment and Ray's worker setup hook,
in every coordinator and node actor the command starts. JSON is one object
per line (time, level, logger, message, and the sequence, shot and chunk a
line is about where there is one), so a log shipper needs no parser.

Workers write to their own stderr; Ray carries those lines to the driver,
where `forward_worker_output` writes them to the command's log stream (never
to stdout for `render`, whose stdout may be a JSON document). Ray's own
chatter (the autoscaler's, the raylet's INFO) is dropped below debug.

This module must stay importable in a bare worker: standard library only.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
CONTEXT = ("sequence", "shot", "chunk")
"""`extra=` fields a log line carries when it is about one sequence, shot or chunk."""
ENV_LEVEL, ENV_FORMAT = "SHOTFARM_LOG_LEVEL", "SHOTFARM_LOG_FORMAT"
WORKER_HOOK = "orchestrator.interfaces.logs.configure_worker"
_MARK = "_shotfarm_handler"


def _when(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per record; the traceback, if any, as one string field."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": _when(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT:
            value = getattr(record, key, None)
            if value is not None:
                doc[key] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


class TextFormatter(logging.Formatter):
    """`2026-12-07T10:00:00.000Z WARNING orchestrator.coordinator: message  sequence=demo:sq010 shot=sh010`."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_when(record.created)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        where = "  ".join(f"{k}={getattr(record, k)}" for k in CONTEXT if getattr(record, k, None) is not None)
        if where:
            line += "  " + where
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _CurrentStream(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr (or sys.stdout) is when a line is logged, as logging's last resort does.

    A handler holding the stream it was given outlives a host that swaps the
    stream and closes it afterwards (pytest's capture): its next line would
    fail on a closed file.
    """

    def __init__(self, name: str):
        super().__init__()
        self._name = name

    @property
    def stream(self) -> TextIO:
        current: TextIO = getattr(sys, self._name)
        return current

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # StreamHandler.__init__ sets it; the stream is always looked up


def configure(level: str = "warning", fmt: str = "text", stream: TextIO | str = "stderr") -> None:
    """Log at `level` in `fmt` to `stream` ("stderr", "stdout" or a file), and ask every Ray worker started from here to do the same.

    Replaces only the handler an earlier call installed, so a host's own
    handlers (pytest's capture) are left alone.
    """
    if level not in LEVELS or fmt not in FORMATS:
        raise ValueError(f"log level must be one of {LEVELS} and format one of {FORMATS}, got {level!r}, {fmt!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
    handler = _CurrentStream(stream) if isinstance(stream, str) else logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    root.setLevel(level.upper())
    os.environ[ENV_LEVEL], os.environ[ENV_FORMAT] = level, fmt


def configure_worker() -> None:
    """Ray's worker_process_setup_hook: the driver's level and format, from the environment it passed on."""
    level, fmt = os.environ.get(ENV_LEVEL, "warning"), os.environ.get(ENV_FORMAT, "text")
    configure(level if level in LEVELS else "warning", fmt if fmt in FORMATS else "text", "stderr")


QUIET_RAY = {"RAY_WARN_BLOCKING_GET_INSIDE_ASYNC": "0"}
"""Ray warns once per process about the first blocking get in an async actor. The coordinator's
first is on purpose (it waits for its nodes before it takes requests), so the warning would come
on every start and could never point at a later one: it says nothing to an operator."""


def runtime_env() -> dict[str, Any]:
    """The Ray job's runtime_env that carries this process's logging to its workers."""
    env = {k: os.environ[k] for k in (ENV_LEVEL, ENV_FORMAT) if k in os.environ}
    return {"env_vars": env | QUIET_RAY, "worker_process_setup_hook": WORKER_HOOK}


def _worker_line(data: dict[str, Any], line: str, fmt: str) -> str | None:
    """A line a worker wrote, as the driver prints it; None to drop it.

    Lines our formatter wrote in the worker pass through (the worker already
    applied the level). Anything else (a library printing, Ray's own
    messages) counts as a warning on stderr and info on stdout, and is
    dropped below this process's level; Ray's raylet and autoscaler chatter
    is dropped unless debugging or it says warning or error.
    """
    pid = str(data.get("pid", ""))
    threshold = logging.getLogger().level
    if not line.strip():
        return None
    if fmt == "json" and line.startswith("{") and line.endswith("}"):
        return line
    if fmt == "text" and line[:4].isdigit() and "Z " in line[:30]:
        return line
    chatter = pid in ("autoscaler", "raylet") and "error" not in line.lower() and "warning" not in line.lower()
    level = logging.WARNING if data.get("is_err") and not chatter else logging.INFO if not chatter else logging.DEBUG
    if level < threshold:
        return None
    who = data.get("actor_name") or data.get("task_name") or ""
    if fmt == "json":
        return json.dumps({
            "time": _when(time.time()),
            "level": logging.getLevelName(level).lower(),
            "logger": f"ray.worker.{who or pid}",
            "message": line,
        })
    return f"({who + ' ' if who else ''}pid={pid}) {line}"


def forward_worker_output(stream: TextIO) -> None:
    """Write what Ray's workers print to `stream`, in this process's log format, instead of Ray's default.

    Call after ray.init(log_to_driver=True). Ray's own printer would send a
    worker's stdout to the driver's stdout and prefix every line with the
    actor's name, which breaks both a JSON log and a JSON result on stdout.
    """
    from ray._private.ray_logging import global_worker_stdstream_dispatcher as dispatcher  # pinned Ray: a private seam

    fmt = os.environ.get(ENV_FORMAT, "text")

    def write(data: dict[str, Any]) -> None:
        for line in data.get("lines", []):
            out = _worker_line(data, line, fmt)
            if out is not None:
                stream.write(out + "\n")
        stream.flush()

    dispatcher.remove_handler("ray_print_logs")
    dispatcher.add_handler("shotfarm_worker_logs", write)
