"""Quote: what a sequence will cost and how long it will take, before it renders.

The prediction uses the runtime model: learned from an event log's history
when there is one (the output folder of earlier renders), else calibrated
by rendering a few sample frames with the engine on this machine. Chunks
are planned as the farm would plan them; each chunk's work is shared
among the capable classes in proportion to their throughput, since the
policy keeps every capable node busy, and priced with the classes' rates.
Wall time is the farm's lower bound for the sequence alone: max(work /
throughput, longest chunk on the fastest class).

This module reads a log read-only and renders calibration frames in this
process; it never starts Ray and never writes anything.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from orchestrator.core.events import Unreadable
from orchestrator.core.isolation import fold
from orchestrator.core.state import FarmState, Policy
from orchestrator.eventlog.base import NoLogYet
from orchestrator.eventlog.location import open_records
from orchestrator.eventlog.sqlite import LOG_NAME, parse_record
from orchestrator.interfaces import arguments
from orchestrator.scheduling.chunk_size import plan_sized
from orchestrator.scheduling.farm import FarmConfig, Need
from orchestrator.scheduling.ids import sequence_id
from orchestrator.scheduling.runtime import Key, RuntimeModel, key_of
from pipelines.chunking import frame_cost
from pipelines.spec.sequence import Sequence

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Quote:
    usd: float
    node_seconds: float
    wall_seconds: float
    chunks: int
    basis: str
    """Where the durations come from: history, calibration, or the prior."""
    by_class: dict[str, tuple[float, float]]
    """class -> (node-seconds, USD)."""

    def document(self) -> dict[str, object]:
        """For `quote --output json`."""
        return {
            "usd": self.usd, "node_seconds": self.node_seconds, "wall_seconds": self.wall_seconds, "chunks": self.chunks,
            "basis": self.basis, "by_class": {name: {"node_seconds": s, "usd": u} for name, (s, u) in sorted(self.by_class.items())},
        }

    def lines(self) -> list[str]:
        out = [
            f"predicted     ${self.usd:.4f}  {self.node_seconds:,.1f} node-seconds  wall {_hms(self.wall_seconds)}"
            f"  ({self.chunks} chunks; {self.basis})"
        ]
        for name, (seconds, usd) in sorted(self.by_class.items()):
            out.append(f"  {name:<12}{seconds:>14,.1f} node-seconds  ${usd:.4f}")
        return out


def _hms(seconds: float) -> str:
    m, s = divmod(int(seconds + 0.5), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def quote(
    sequence: Sequence,
    farm: FarmConfig,
    model: RuntimeModel,
    nodes: Mapping[str, int],
    engine: str = "pathtracer",
    chunk_frames: int = 8,
    basis: str = "",
) -> Quote:
    """Predict cost and wall time on a pool of `nodes` (class -> count)."""
    width, height = sequence.resolution
    capable = [k for k in farm.capable(Need(engine, width * height)) if nodes.get(k, 0) > 0]
    if not capable:
        raise ValueError(f"no node in the pool can run {sequence.show}:{sequence.sequence}")
    chunks = plan_sized(sequence, model, farm, engine, chunk_frames, nodes)
    samples = {s.name: sequence.samples_for(s) for s in sequence.shots}
    seconds = dict.fromkeys(capable, 0.0)
    units_total = longest = throughput_total = 0.0
    shares: dict[Key, dict[str, float]] = {}
    for c in chunks:
        key = key_of(sequence.engine_for(sequence.shot(c.shot), engine), sequence.resolution, samples[c.shot])
        spu = {k: model.seconds_per_unit(key, k, farm.speed(k)) for k in capable}
        if key not in shares:  # units per second each class delivers for this key
            shares[key] = {k: nodes[k] / spu[k] for k in capable}
        rate = shares[key]
        total = sum(rate.values())
        for k in capable:
            seconds[k] += c.cost * (rate[k] / total) * spu[k]
        units_total += c.cost
        throughput_total = max(throughput_total, total)
        longest = max(longest, min(c.cost * s for s in spu.values()))
    usd = {k: seconds[k] * farm.rate(k) / 3600.0 for k in capable}
    wall = max(units_total / throughput_total if throughput_total else 0.0, longest)
    return Quote(
        usd=sum(usd.values()),
        node_seconds=sum(seconds.values()),
        wall_seconds=wall,
        chunks=len(chunks),
        basis=basis or ("history" if model.knows(engine) else "prior: nothing measured yet"),
        by_class={k: (seconds[k], usd[k]) for k in capable},
    )


def history(log_url: str | Path, farm: FarmConfig, engine: str = "pathtracer") -> RuntimeModel:
    """The runtime model an event log teaches (every accepted render in it), read-only: a path or postgresql://."""
    try:
        records = open_records(log_url)
    except NoLogYet:  # nothing rendered there yet: the prior is all there is
        return RuntimeModel(prior=farm.prior_seconds_per_unit)
    state = FarmState(policy=Policy(farm=farm, engine=engine))
    try:
        # Folded as the coordinator folds it: a record this release cannot read sets its
        # sequence aside (core.isolation) instead of refusing a quote for every other one.
        for seq, sid, type_, body, digest in records.rows():
            event, problem = parse_record(seq, body, digest)
            record = event or Unreadable(sequence_id=str(sid), record_type=str(type_)[:64], reason=str(problem))
            state = fold(state, seq, record)
    finally:
        records.close()
    return RuntimeModel(
        prior=farm.prior_seconds_per_unit, exact=state.runtime.exact, normal=state.runtime.normal,
        engines=state.runtime.engines,
    )  # fmt: skip


def calibrate(
    sequence: Sequence, farm: FarmConfig, engine: str = "pathtracer", frames: int = 2, gpu_class: str = "cpu"
) -> tuple[RuntimeModel, str]:
    """Render `frames` sample frames here (the heaviest distinct shots first) and learn from them.

    Each shot renders with its own engine (Sequence.engine_for), built through
    the engine registry. The frames are timed as a node of `gpu_class` would
    render them; other classes are scaled by their speed relative to it. A
    shot whose engine cannot run on this machine is left to the prior.
    """
    import os

    from pipelines.render.engines import registry
    from pipelines.render.engines.base import Engine, EngineContext
    from pipelines.spec.setup import shot_setup

    context = EngineContext(device="cuda" if gpu_class != "cpu" else "cpu", threads=len(os.sched_getaffinity(0)))
    by_key: dict[tuple[str, int], str] = {}
    for shot in sorted(sequence.shots, key=lambda s: -frame_cost(sequence, s)):
        by_key.setdefault((sequence.engine_for(shot, engine), sequence.samples_for(shot)), shot.name)
    model = RuntimeModel(prior=farm.prior_seconds_per_unit)
    engines: dict[str, Engine | None] = {}
    rendered = 0
    try:
        for (name, samples), shot_name in list(by_key.items())[: max(1, frames)]:
            if name not in engines:
                try:
                    engines[name] = registry.build(name, context)
                except (KeyError, registry.EngineUnavailable):
                    engines[name] = None  # it cannot render here: its shots are quoted from the prior
            renderer = engines[name]
            if renderer is None:
                continue
            shot = sequence.shot(shot_name)
            renderer.load(shot_setup(sequence, shot_name, engine))
            frame = (shot.frames.first + shot.frames.last) // 2
            started = time.perf_counter()
            for _ in renderer.render_chunk(frame, frame):
                pass
            took = time.perf_counter() - started
            model = model.observe(key_of(name, sequence.resolution, samples), gpu_class, farm.speed(gpu_class), took, frame_cost(sequence, shot))
            rendered += 1
    finally:
        for renderer in engines.values():
            if renderer is not None:
                renderer.close()
    return model, f"calibration: {rendered} frame(s) rendered on this machine as {gpu_class}"


# -- the command line ---------------------------------------------------------------


def add_arguments(p) -> None:  # an argparse parser
    p.add_argument("spec", type=Path)
    p.add_argument("--farm", type=Path, help="farm config (node classes, prices, counts); default: this machine")
    p.add_argument("--out", type=Path, help="an output folder whose event log has history to learn from")
    p.add_argument("--calibrate", type=arguments.count(0, 1000), default=2, metavar="FRAMES", help="sample frames to render without history")
    p.add_argument("--cpus", type=arguments.CPUS, default=None, help="CPU nodes of the local farm (default: all)")
    p.add_argument("--chunk-frames", type=arguments.CHUNK_FRAMES, default=8)


def predict(
    sequence: Sequence,
    farm: FarmConfig | None,
    out: Path | None,
    cpus: int | None = None,
    frames: int = 2,
    engine: str = "pathtracer",
    chunk_frames: int = 8,
    log_url: str | Path | None = None,
) -> Quote:
    """A quote from the best evidence there is: history in `log_url` (default: `out`'s log), else a calibration render, else the prior."""
    import os

    local = farm is None
    farm = farm or FarmConfig.local()
    nodes = {"cpu": cpus or os.cpu_count() or 1} if local else {c.name: c.count for c in farm.classes}
    log_url = log_url or (out / LOG_NAME if out is not None else None)
    model = history(log_url, farm, engine) if log_url is not None else RuntimeModel(farm.prior_seconds_per_unit)
    basis = (f"history in {out}" if out is not None else "history in the event log") if model.knows(engine) else ""
    if not model.knows(engine) and frames > 0:
        model, basis = calibrate(sequence, farm, engine, frames)
    return quote(sequence, farm, model, nodes, engine, chunk_frames, basis)


class RenderQuote:
    """The quote `render` prints beside what the render actually took.

    From the history in the render's log when it has some. Without history,
    the farm's own first chunks calibrate it instead of a calibration render
    up front: that render would hold the cores while Ray and the nodes start,
    and render a frame the farm renders again. Once the log records a chunk,
    the quote is made from the log as it is then, before the rest renders.
    """

    def __init__(
        self,
        sequence: Sequence,
        farm: FarmConfig | None,
        out: Path,
        log_url: str | None,
        cpus: int | None,
        engine: str,
        chunk_frames: int,
    ):
        self._ask = lambda: predict(sequence, farm, out, cpus, 0, engine, chunk_frames, log_url)
        self.quote = self._ask()  # raises ValueError when the farm cannot run the sequence
        self.pending = not self.quote.basis.startswith("history")

    def observe(self, chunks_rendered: int) -> None:
        """Called with the render's progress: the first time chunks are done, calibrate from them."""
        if not self.pending or chunks_rendered == 0:
            return
        try:
            measured = self._ask()
        except Exception as e:  # the quote informs; it must never stop a render
            log.warning("the quote could not read the log yet (%s); trying again", e)
            return
        self.pending = False
        if measured.basis.startswith("history"):
            self.quote = replace(measured, basis=f"calibration: the farm's first {chunks_rendered} chunk(s) on this machine")


def main(args) -> int:
    from orchestrator.config.farm_file import load_farm
    from pipelines.spec.loading import load_sequence

    sequence = load_sequence(args.spec)
    farm = load_farm(args.farm) if args.farm else None
    try:
        if farm is not None:
            width, height = sequence.resolution
            farm.check_sequence({s.name: Need(sequence.engine_for(s), width * height) for s in sequence.shots})
        q = predict(sequence, farm, args.out, args.cpus, args.calibrate, chunk_frames=args.chunk_frames)
    except ValueError as e:  # FarmConfigError included: the farm cannot run this spec
        print(f"error: {e}", file=sys.stderr)
        if getattr(args, "output", "text") == "json":
            print(json.dumps({"ok": False, "problems": [{"field": "", "message": str(e)}]}, indent=2))
        return 2
    if getattr(args, "output", "text") == "json":
        print(json.dumps({"sequence_id": sequence_id(sequence.show, sequence.sequence)} | q.document(), indent=2))
        return 0
    print(sequence_id(sequence.show, sequence.sequence))
    for line in q.lines():
        print(f"  {line}")
    return 0
