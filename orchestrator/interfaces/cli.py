"""`shotfarm`: the command line.

Exit codes: 0 done, 1 the render itself failed (the log says why, and the
same command resumes), 2 bad input (spec, flags, output folder), 130
interrupted. Bad input never prints a traceback.

For scripts and operators (docs/cli.md): `--output json` puts one document
on stdout and nothing else there; `--log-level` and `--log-format` set the
logging of this process and of every Ray actor it starts (interfaces.logs).
Client commands (validate, submit, status) must not load torch, Ray or PIL:
heavy modules are imported inside the commands that need them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.eventlog.location import LOG_HELP, log_location, reachable
from orchestrator.interfaces import arguments
from orchestrator.interfaces.remote_cli import COMMANDS as REMOTE_COMMANDS
from orchestrator.interfaces.remote_cli import add_commands
from orchestrator.interfaces.remote_cli import run as run_remote
from orchestrator.projections.progress import Progress
from pipelines.spec.loading import SpecError, load_sequence
from pipelines.spec.sequence import Sequence

if TYPE_CHECKING:
    from orchestrator.interfaces.quote import Quote

EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 1, 2, 130


def parser() -> argparse.ArgumentParser:
    """Every `shotfarm` command and flag (the Kubernetes manifests are checked against it)."""
    from orchestrator import __version__

    # No abbreviated flags: `--log` must not quietly mean --log-level in a manifest or a script.
    p = argparse.ArgumentParser(prog="shotfarm", description="Render farm for cinematic sequences.", allow_abbrev=False)
    p.add_argument("--version", action="version", version=f"shotfarm {__version__}")
    arguments.add_log_flags(p, top=True)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render", help="render a sequence spec on this machine (resumes if interrupted)")
    r.add_argument("spec", type=Path)
    r.add_argument("--out", type=Path, default=Path("out"), help="output folder: store, event log, master")
    r.add_argument("--cpus", type=arguments.CPUS, default=None, help="CPU slots for render nodes (default: all)")
    r.add_argument("--chunk-frames", type=arguments.CHUNK_FRAMES, default=8, help="chunk length at the default quality")
    r.add_argument("--resolution", type=arguments.resolution, help="override, e.g. 64x36 for a quick preview")
    r.add_argument("--samples", type=arguments.SAMPLES, help="override samples per pixel")
    r.add_argument(
        "--rerender", action="append", default=[], metavar="SHOT",
        help="render this shot again as a new version (repeatable); only its master segments are rebuilt",
    )
    r.add_argument("--no-burn-in", action="store_true", help="no shot name and frame number on the SDR review proxy")
    r.add_argument(
        "--exact", action="store_true",
        help="deliverables through OCIO's exact view processors, not the baked views (about 30x the colour time)",
    )
    r.add_argument("--metrics-port", type=arguments.PORT, help="serve Prometheus metrics on this port while rendering")
    r.add_argument("--farm", type=Path, help="farm config: node classes (count, Ray resource, speed, price)")
    r.add_argument(
        "--store",
        help="where frames and masters go: a folder (default: --out) or s3://bucket/prefix "
        "(endpoint and keys from SHOTFARM_S3_ENDPOINT, SHOTFARM_S3_ACCESS_KEY, SHOTFARM_S3_SECRET_KEY)",
    )
    r.add_argument("--log", type=log_location, help=LOG_HELP)
    arguments.add_output_flag(r)
    v = sub.add_parser("validate", help="check a spec and print every problem with its field path")
    v.add_argument("spec", type=Path)
    arguments.add_output_flag(v)
    sub.add_parser("schema", help="print the sequence spec's JSON Schema")
    lg = sub.add_parser("log", help="inspect an output folder's event log")
    lsub = lg.add_subparsers(dest="log_command", required=True)
    lv = lsub.add_parser("verify", help="check every sequence's log for consistency (exit 1 if problems are found)")
    lv.add_argument("--out", type=Path, default=Path("out"), help="output folder holding shotfarm.db")
    lv.add_argument("--store", help="where its frames and masters are (default: --out); s3://bucket/prefix as for render")
    lv.add_argument("--log", type=log_location, help="the log to check instead of OUT/shotfarm.db: a file (a backup) or postgresql://")
    lb = lsub.add_parser("backup", help="copy a live SQLite event log, consistent, into a file or folder (the farm keeps running)")
    lb.add_argument("log", help="the log, e.g. out/shotfarm.db")
    lb.add_argument("dest", type=Path, help="a new file, or a folder to hold shotfarm.db")
    from orchestrator.interfaces import retire

    retire.add_arguments(lsub.add_parser("retire", help="set a sequence aside for good (one the farm cannot fold)"))
    add_commands(sub)  # serve, submit, status, cancel: a farm with its REST API, and its clients
    from orchestrator.interfaces import quote
    from orchestrator.interfaces import simulate as console

    quote.add_arguments(sub.add_parser("quote", help="predict a sequence's cost and wall time before rendering it"))
    console.add_arguments(sub.add_parser("simulate", help="run the scheduling policy on a simulated farm, FIFO beside it"))
    from orchestrator.interfaces import engines as installed

    installed.add_arguments(sub.add_parser("engines", help="list the installed engines and whether each can render here"))
    arguments.add_output_flag(sub.choices["quote"])
    for command in sub.choices.values():
        command.allow_abbrev = False
        arguments.add_log_flags(command, top=False)
    return p


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    m, s = divmod(int(seconds + 0.5), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


class ProgressBar:
    """One line on a terminal, redrawn in place; a line per chunk elsewhere (CI logs)."""

    def __init__(self, stream=sys.stderr, width: int = 28):
        self.stream, self.width = stream, width
        self.tty = stream.isatty()
        self._last = None

    def __call__(self, p: Progress) -> None:
        total = max(p.frames_total, 1)
        filled = int(self.width * p.frames_rendered / total)
        bar = "#" * filled + "." * (self.width - filled)
        line = (
            f"[{bar}] {p.frames_rendered}/{p.frames_total} frames  "
            f"{p.chunks_rendered}/{p.chunks_total} chunks ({p.chunks_running} running)  "
            f"ETA {_fmt_time(p.eta_seconds)}  {p.status.value}"
        )
        if self.tty:
            self.stream.write("\r" + line.ljust(100))
        elif (p.chunks_rendered, p.status) != self._last:
            self.stream.write(line + "\n")
        self._last = (p.chunks_rendered, p.status)
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


class ProgressLog:
    """With --log-format json the progress is log lines too, one per finished chunk: stderr stays one object per line."""

    def __init__(self) -> None:
        self._last: tuple[int, str] | None = None

    def __call__(self, p: Progress) -> None:
        if (p.chunks_rendered, p.status.value) != self._last:
            self._last = (p.chunks_rendered, p.status.value)
            logging.getLogger("orchestrator.progress").info(
                "%d/%d frames, %d/%d chunks (%d running), %s", p.frames_rendered, p.frames_total, p.chunks_rendered,
                p.chunks_total, p.chunks_running, p.status.value, extra={"sequence": p.sequence_id},
            )

    def close(self) -> None:
        pass


def _render(args: argparse.Namespace) -> int:
    # Heavy imports wait until the spec is known to be good: `validate` stays instant.
    from orchestrator.config.farm_file import load_farm
    from orchestrator.config.settings import FarmSettings
    from orchestrator.coordinator.failures import cause_of, sentence_of
    from orchestrator.core.admission import BadRequest
    from orchestrator.interfaces import embedded
    from orchestrator.interfaces.quote import RenderQuote

    seq = load_sequence(args.spec).with_quality(args.resolution, args.samples)
    farm = load_farm(args.farm) if args.farm else None
    out = embedded.prepare_out(args.out)
    settings = FarmSettings(
        chunk_frames=args.chunk_frames, metrics_port=args.metrics_port, burn_in=not args.no_burn_in, exact=args.exact, farm=farm
    )
    try:
        reachable(args.log or out)
    except ValueError as e:  # a PostgreSQL log that cannot be reached: said before Ray starts
        return _refused(args, str(e))
    try:
        # No calibration render up front: without history, the farm's first chunks calibrate the quote.
        quoted = RenderQuote(seq, farm, out, args.log, args.cpus, settings.engine, args.chunk_frames)
    except ValueError as e:  # the farm config cannot run this spec
        return _refused(args, str(e))
    started = time.monotonic()
    bar = ProgressLog() if args.log_format == "json" else ProgressBar(sys.stderr)

    def on_progress(p: Progress) -> None:
        quoted.observe(p.chunks_rendered)
        bar(p)

    ours = embedded.ensure_ray(args.cpus, farm, worker_logs=sys.stderr)
    try:
        progress = embedded.render(
            seq, out, settings, on_progress=on_progress, store_url=args.store, rerender=tuple(args.rerender), log_url=args.log
        )
    except Exception as e:
        # Refusals raised inside the coordinator actor arrive wrapped by Ray.
        if not isinstance(cause_of(e), BadRequest):
            raise
        bar.close()
        return _refused(args, sentence_of(e))
    finally:
        if ours:  # not a Ray this process had up before (a test's, a notebook's)
            embedded.stop_ray()
    bar.close()
    wall = time.monotonic() - started
    if args.output == "json":
        _print_json(_summary_document(progress, args.store or str(out), wall, quoted.quote))
    else:
        _summary(progress, args.store or str(out), wall, seq, quoted.quote)
    return 0 if progress.status.value == "completed" else EXIT_FAILED


def _print_json(document: object) -> None:
    """The one document a command with --output json writes to stdout."""
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    sys.stdout.flush()


def _refused(args: argparse.Namespace, message: str) -> int:
    """Bad input found after parsing: a message on stderr, and for --output json the same as a document."""
    print(f"error: {message}", file=sys.stderr)
    if getattr(args, "output", "text") == "json":
        _print_json({"ok": False, "problems": [{"field": "", "message": message}]})
    return EXIT_BAD_INPUT


def _validate(args: argparse.Namespace) -> int:
    from orchestrator.scheduling.ids import sequence_id

    seq = load_sequence(args.spec)
    frames = sum(len(s.frames) for s in seq.shots)
    if args.output == "json":
        _print_json({
            "ok": True, "file": str(args.spec), "sequence_id": sequence_id(seq.show, seq.sequence),
            "shots": len(seq.shots), "frames": frames, "fps": str(seq.fps), "problems": [],
        })
    else:
        print(f"{args.spec}: ok ({len(seq.shots)} shots, {frames} frames, {seq.fps} fps)")
    return 0


def _summary_document(p: Progress, store: str, wall: float, predicted: Quote | None) -> dict[str, object]:
    """`render --output json`: the run's progress as the farm reports it, where its files are, and the quote beside it."""
    def where(key: str) -> str:
        return f"{store.rstrip('/')}/{key}"

    return p.model_dump(mode="json") | {
        "wall_seconds": round(wall, 3),
        "store": store,
        "master": [where(k) for k in p.master_keys],
        "contact_sheet": where(p.contact_sheet) if p.contact_sheet else None,
        "deliverables": {name: where(key) for name, key in p.deliverables.items()},
        "predicted": None if predicted is None else {
            "usd": predicted.usd, "node_seconds": predicted.node_seconds, "wall_seconds": predicted.wall_seconds,
            "chunks": predicted.chunks, "basis": predicted.basis,
        },
    }


def _summary(p: Progress, store: str, wall: float, seq: Sequence, predicted: Quote | None = None) -> None:
    def where(key: str) -> str:
        return f"{store.rstrip('/')}/{key}"

    print(f"{p.sequence_id}: {p.status.value}")
    if p.reason:
        print(f"  reason: {p.reason}")
    print(f"  frames      {p.master_frames} in the master ({p.frames_rendered} rendered incl. handles)")
    print(f"  shots       {p.shots}")
    print(f"  wall time   {_fmt_time(wall)}")
    print(f"  node time   {p.node_seconds:.1f} node-seconds")
    print(f"  cost        ${p.cost_usd:.4f}")
    if predicted is not None:
        print(
            f"  predicted   ${predicted.usd:.4f}, {predicted.node_seconds:.1f} node-seconds, "
            f"wall {_fmt_time(predicted.wall_seconds)} ({predicted.basis}); "
            f"actual ${p.cost_usd:.4f}, {p.node_seconds:.1f} node-seconds, wall {_fmt_time(wall)}"
        )
    if p.master_keys:
        print(f"  master      {where(p.master_keys[0])} .. {Path(p.master_keys[1]).name}")
    if p.contact_sheet:
        print(f"  contact     {where(p.contact_sheet)}")
    for name, key in p.deliverables.items():
        print(f"  {name:<15} {where(key)}")
    if p.cuts:
        print("  cuts:")
        for line in p.cuts:
            print(f"    {line}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from orchestrator.interfaces import logs

    # serve runs unattended: its requests and the farm's progress are worth a line each by default.
    level = args.log_level or ("info" if args.command == "serve" else "warning")
    logs.configure(level, args.log_format or "text", "stdout" if args.command == "serve" else "stderr")
    if args.command in REMOTE_COMMANDS:
        return run_remote(args)  # each reports its own bad input (exit 2) and interrupts
    try:
        if args.command == "schema":
            print(json.dumps(Sequence.model_json_schema(), indent=2))
            return 0
        if args.command == "log":
            from orchestrator.eventlog import verify as logcheck
            from orchestrator.interfaces import retire

            if args.log_command == "backup":
                return logcheck.log_backup_main(args)
            return (retire.main if args.log_command == "retire" else logcheck.log_verify_main)(args)
        if args.command in ("quote", "simulate"):
            from orchestrator.interfaces import quote
            from orchestrator.interfaces import simulate as console

            return (quote.main if args.command == "quote" else console.main)(args)
        if args.command == "engines":
            from orchestrator.interfaces import engines as installed

            return installed.main(args)
        if args.command == "validate":
            return _validate(args)
        return _render(args)
    except SpecError as e:
        print(e.render(), file=sys.stderr)
        if getattr(args, "output", "text") == "json":
            _print_json({"ok": False, "file": e.source, "problems": [{"field": f, "message": m} for f, m in e.problems]})
        return EXIT_BAD_INPUT
    except OSError as e:
        if type(e).__name__ == "OutputNotWritable":
            return _refused(args, str(e))
        raise
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
