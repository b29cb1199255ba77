"""`shotfarm submit`, `status` and `cancel`: the command line against a running server.

Exit codes as the rest of the CLI: 0 done, 1 the farm failed (or a watched
sequence did not complete, or the server could not be reached), 2 bad input
(a spec, a mapping, an id, a token, anything the server refused with a 4xx),
130 interrupted. Errors are one clear message with field paths, never a
traceback. The server and token come from --server/--token or
SHOTFARM_SERVER/SHOTFARM_TOKEN.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from orchestrator.api.limits import SEQUENCE_ID
from orchestrator.eventlog.location import LOG_HELP, log_location
from orchestrator.interfaces import arguments
from orchestrator.interfaces.sdk import DEFAULT_SERVER, ApiError, Client, ServerUnreachable
from pipelines.spec.documents import read_document
from pipelines.spec.loading import SpecError, load_sequence, read_file

EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 1, 2, 130
SPEC_SUFFIXES = (".yaml", ".yml", ".json")
CUT_SUFFIXES = (".otio", ".edl")
MOVIE_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mxf", ".mpg", ".mpeg")


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def guarded(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except SpecError as e:
            print(e.render(), file=sys.stderr)
            _failed_document(args, [{"field": f, "message": m} for f, m in e.problems])
            return EXIT_BAD_INPUT
        except ApiError as e:
            print(f"error: {e.render()}", file=sys.stderr)
            _failed_document(args, [{"field": "", "message": e.render()}])
            return EXIT_BAD_INPUT if e.status < 500 else EXIT_FAILED
        except ServerUnreachable as e:
            print(f"error: {e}", file=sys.stderr)
            _failed_document(args, [{"field": "", "message": str(e)}])
            return EXIT_FAILED
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            return EXIT_INTERRUPTED

    return guarded


def _failed_document(args: argparse.Namespace, problems: list[dict[str, str]]) -> None:
    """With --output json, stdout carries the failure too: a script reads one document either way."""
    if getattr(args, "output", "text") == "json":
        print(json.dumps({"ok": False, "problems": problems}, indent=2))


def _client(args: argparse.Namespace) -> Client:
    return Client(args.server, args.token)


def _sequence_id(text: str) -> str:
    if not re.match(SEQUENCE_ID, text):
        raise SpecError("ID", [("", f"{text!r} is not a sequence id (show:sequence)")])
    return text


def _readable(path: Path) -> Path:
    if not path.is_file():
        raise SpecError(str(path), [("", "file not found" if not path.exists() else "not a file")])
    return path


@_guarded
def submit_main(args: argparse.Namespace) -> int:
    path: Path = _readable(args.spec)
    suffix = path.suffix.lower()
    mapping = _readable(args.mapping) if args.mapping else None
    with _client(args) as farm:
        if suffix in SPEC_SUFFIXES:
            load_sequence(path)  # every problem with its field path, before anything is sent
            done = farm.submit(path)
            print(f"{done.sequence_id}: {'submitted' if done.created else 'already submitted (resuming)'}")
            print(f"  {farm.server}{done.url}")
            return 0
        if suffix in CUT_SUFFIXES:
            if mapping is None:
                raise SpecError(str(path), [("--mapping", "a cut list needs a scene mapping (which set and camera per clip)")])
            return _report_import(farm, farm.submit_cut(path, mapping, dry_run=args.dry_run))
        if suffix in MOVIE_SUFFIXES:
            return _submit_movie(farm, path, mapping, args)
    raise SpecError(str(path), [("", f"unknown kind of file {suffix or '(no suffix)'}: a spec (.yaml/.json), "
                                     "a cut list (.otio/.edl) or a movie")])


def _submit_movie(farm: Client, path: Path, mapping: Path | None, args: argparse.Namespace) -> int:
    data = read_document(read_file(mapping), str(mapping)) if mapping else None
    show = args.show or (data.get("show") if isinstance(data, dict) else None)
    if not show:
        raise SpecError(str(path), [("--show", "say which show the movie is for (or give a --mapping)")])
    found = farm.propose_from_movie(show, path)
    proposal = found["proposal"]
    print(f"{path.name}: {proposal['frames']} frames at {proposal['fps']} fps, {len(proposal['cut']['clips'])} shots")
    for t in proposal["transitions"]:
        extra = f" ({t['length']} frames)" if t["kind"] == "dissolve" else ""
        print(f"  {t['kind']:<8} at frame {t['frame']}{extra}")
    if data is None or args.dry_run:
        print(f"  accept it with: shotfarm submit {path} --mapping MAPPING  (previs id {found['previs_id']})")
        return 0
    return _report_import(farm, farm.accept_proposal(show, found["previs_id"], data))


def _report_import(farm: Client, result: dict[str, Any]) -> int:
    for warning in result["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    for shot in result["shots"]:
        frames = shot["frames"]
        extra = f", dissolve {shot['dissolve']}" if shot["dissolve"] else ""
        print(f"  {shot['shot']:<16} {frames['first']}-{frames['last']}  from clip {shot['clip']!r}{extra}")
        for note in shot["notes"]:
            print(f"      note: {note}")
    done = result["submitted"]
    if done is None:
        print(f"{result['sequence_id']}: dry run, nothing submitted")
    else:
        print(f"{done['sequence_id']}: {'submitted' if done['created'] else 'already submitted (resuming)'}")
        print(f"  {farm.server}{done['url']}")
    return 0


@_guarded
def cancel_main(args: argparse.Namespace) -> int:
    sid = _sequence_id(args.id)
    with _client(args) as farm:
        done = farm.cancel(sid)
    print(f"{done.sequence_id}: {done.status.value}")
    return 0


@_guarded
def status_main(args: argparse.Namespace) -> int:
    sid = _sequence_id(args.id) if args.id else None
    if args.output == "json":
        return _status_document(args, sid)
    with _client(args) as farm:
        draw = (lambda: _sequence_table(farm, sid)) if sid else (lambda: _list_table(farm))
        screen = Screen(sys.stdout)
        screen.show(draw())
        if not args.watch:
            return 0
        for _ in farm.watch(sid):
            screen.show(draw(), throttle=0.5)
        screen.show(draw())
        if sid is None:
            return 0
        return 0 if farm.sequence(sid).status.value == "completed" else EXIT_FAILED


def _status_document(args: argparse.Namespace, sid: str | None) -> int:
    """`status --output json`: the sequences, or one sequence with its shots and cuts; with --watch, once it has finished."""
    with _client(args) as farm:
        if sid is None:
            print(json.dumps({"sequences": [s.model_dump(mode="json") for s in farm.sequences()]}, indent=2))
            return 0
        if args.watch:
            for _ in farm.watch(sid):
                pass
        detail = farm.sequence(sid)
        document = detail.model_dump(mode="json") | {
            "shots": [s.model_dump(mode="json") for s in farm.shots(sid)],
            "cuts": [c.model_dump(mode="json") for c in farm.cuts(sid)],
        }
    print(json.dumps(document, indent=2))
    return 0 if not args.watch or detail.status.value == "completed" else EXIT_FAILED


class Screen:
    """A table redrawn in place on a terminal; printed anew (when it changed) anywhere else."""

    def __init__(self, stream: TextIO):
        self.stream, self.tty = stream, stream.isatty()
        self._last, self._at = "", 0.0

    def show(self, text: str, throttle: float = 0.0) -> None:
        if text == self._last or time.monotonic() - self._at < throttle:
            return
        self._last, self._at = text, time.monotonic()
        self.stream.write(("\x1b[H\x1b[2J" if self.tty else "") + text + "\n")
        self.stream.flush()


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() for row in [headers, *rows]]
    return "\n".join(lines)


def _list_table(farm: Client) -> str:
    rows = [
        [s.sequence_id, s.status.value, f"{s.frames_rendered}/{s.frames_total}", f"{s.chunks_rendered}/{s.chunks_total}",
         f"${s.cost_usd:.4f}"]
        for s in farm.sequences()
    ]
    return _table(["SEQUENCE", "STATUS", "FRAMES", "CHUNKS", "COST"], rows) if rows else "no sequences"


def _sequence_table(farm: Client, sid: str) -> str:
    d = farm.sequence(sid)
    head = (
        f"{d.sequence_id}  {d.status.value}  frames {d.frames_rendered}/{d.frames_total}  "
        f"chunks {d.chunks_rendered}/{d.chunks_total} ({d.chunks_running} running)  cost ${d.cost_usd:.4f}"
    )
    if d.reason:
        head += f"\n  reason: {d.reason}"
    shots = [
        [s.name, s.status, f"{s.chunks_rendered}/{s.chunks_total}", f"{s.frames.first}-{s.frames.last}", f"v{s.version}",
         f"${s.cost_usd:.4f}"]
        for s in farm.shots(sid)
    ]
    cuts = [[c.name, c.status.value, c.explanation[:90]] for c in farm.cuts(sid)]
    text = head + "\n\n" + _table(["SHOT", "STATUS", "CHUNKS", "FRAMES", "VERSION", "COST"], shots)
    if cuts:
        text += "\n\n" + _table(["CUT", "VERDICT", "WHY"], cuts)
    return text


@_guarded
def serve_command(args: argparse.Namespace) -> int:
    from orchestrator.interfaces.server import serve_main  # Ray and uvicorn load only for `serve`

    return serve_main(args)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": serve_command,
    "submit": submit_main,
    "status": status_main,
    "cancel": cancel_main,
}


def run(args: argparse.Namespace) -> int:
    """Run a command that add_commands added; each handles its own bad input and interrupts."""
    return COMMANDS[args.command](args)


def add_commands(sub: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add serve, submit, status and cancel to `shotfarm`'s subparsers; returns command -> handler."""
    server = dict(default=None, help=f"API server URL (default: $SHOTFARM_SERVER or {DEFAULT_SERVER})")
    token = dict(default=None, help="API token (default: $SHOTFARM_TOKEN)")
    s = sub.add_parser("serve", help="run a farm with its REST API and web page until interrupted")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on")
    s.add_argument("--port", type=arguments.PORT, default=8470, help="port to listen on (0: any free one)")
    s.add_argument("--out", type=Path, default=Path("out"), help="output folder: event log, and store by default")
    s.add_argument("--store", help="where frames and masters go: a folder or s3://bucket/prefix (default: --out)")
    s.add_argument("--log", type=log_location, help=LOG_HELP)
    s.add_argument("--tokens", type=Path, help="YAML/JSON tokens file (tokens also come from $SHOTFARM_TOKENS)")
    s.add_argument("--upload-limit-mb", type=int, default=64, help="largest request body (specs, cuts, movies)")
    s.add_argument("--cpus", type=arguments.CPUS, default=None, help="CPU slots for render nodes (default: all)")
    s.add_argument("--chunk-frames", type=arguments.CHUNK_FRAMES, default=8, help="chunk length at the default quality")
    s.add_argument("--farm", type=Path, help="farm config: node classes (count, Ray resource, speed, price)")
    s.add_argument("--metrics-port", type=arguments.PORT, help="serve Prometheus metrics without a token on this port")
    s.add_argument("--metrics-addr", default="127.0.0.1", help="address the metrics endpoint listens on")
    k = s.add_argument_group("cluster mode")
    k.add_argument("--join", metavar="HOST:PORT", help="join the Ray cluster at this GCS address as a CPU-less node")
    k.add_argument("--cluster", action="store_true", help="scale the RayCluster's GPU worker groups to the queue")
    k.add_argument("--raycluster", default="shotfarm", help="the RayCluster to scale (default: shotfarm)")
    k.add_argument("--namespace", help="its namespace (default: this pod's, else shotfarm)")
    k.add_argument("--kube-context", help="use this kubeconfig context instead of the pod's service account")
    k.add_argument("--gpu-budget", type=arguments.real(0, 1e7), metavar="USD_PER_HOUR", help="most GPU worker groups may cost an hour")
    k.add_argument("--scale-interval", type=arguments.real(0.01, 3600), default=30.0, help="seconds between scaling passes")
    m = sub.add_parser("submit", help="submit a spec, a cut list (.otio/.edl + --mapping) or a previs movie to a server")
    m.add_argument("spec", type=Path)
    m.add_argument("--mapping", type=Path, help="scene mapping (YAML/JSON) for a cut list or a previs movie")
    m.add_argument("--show", help="show of a previs movie when no --mapping names it")
    m.add_argument("--dry-run", action="store_true", help="show what would be submitted, submit nothing")
    m.add_argument("--server", **server)
    m.add_argument("--token", **token)
    t = sub.add_parser("status", help="sequences on a server, or one sequence's shots and cuts")
    t.add_argument("id", nargs="?", help="show:sequence (default: list every sequence)")
    t.add_argument("--watch", action="store_true", help="redraw live until the sequence finishes (or Ctrl-C)")
    arguments.add_output_flag(t)
    t.add_argument("--server", **server)
    t.add_argument("--token", **token)
    c = sub.add_parser("cancel", help="cancel a sequence on a server")
    c.add_argument("id", help="show:sequence")
    c.add_argument("--server", **server)
    c.add_argument("--token", **token)
    return COMMANDS
