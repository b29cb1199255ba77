"""Prometheus metrics: the farm's numbers as a projection of its events.

Every metric the farm exports is defined here, and this is the only module
that imports prometheus_client. `FarmMetrics.observe` is an observer on the
coordinator loop: it is called after each event is logged and folded, and
reads the event and the new state. Observing every event of a replayed log
gives exactly the counters of the run that wrote it. `rebuild` derives them
from a replayed state instead: exact while the state still holds every
render's cost, which stops being true once a shot is re-rendered at a new
version (state keeps the current version's chunks only).

Labels stay low-cardinality: show, sequence, gpu_class, engine, outcome,
reason, rule, severity (and shotfarm_build_info's one series: version,
python, ray). Never shot, chunk, frame or node ids: per-shot cost
lives in the event log and the API. Per-sequence gauges are removed when the
sequence finishes, so a long-lived farm does not keep one series per
sequence it ever ran; counters stay, since cost must keep summing.

This module must never change what the farm does: it only reads, and an
error inside it is logged, never raised into the coordinator's loop.
"""

from __future__ import annotations

import logging
import platform
from collections import Counter as Tally
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

from orchestrator.config.cost import PriceBook
from orchestrator.core import events as ev
from orchestrator.core.snapshot import board_of
from orchestrator.core.state import ChunkState, FarmState, SequenceState
from orchestrator.core.status import ChunkStatus, SequenceStatus
from orchestrator.projections.takes import usd_per_second
from orchestrator.scheduling.board import Board
from orchestrator.scheduling.waiting import WaitReason, explain


class MetricNames:
    """Names as Prometheus exposes them (counters carry `_total`)."""

    GPU_SECONDS = "shotfarm_gpu_seconds_total"
    COST_USD = "shotfarm_cost_usd_total"
    CHUNKS = "shotfarm_chunks_total"
    CHUNK_DURATION = "shotfarm_chunk_duration_seconds"
    FRAMES_RENDERED = "shotfarm_frames_rendered_total"
    MASTER_FRAMES = "shotfarm_master_frames_total"
    CONTINUITY_FINDINGS = "shotfarm_continuity_findings_total"
    QUEUE_DEPTH = "shotfarm_queue_depth"
    CHUNKS_WAITING = "shotfarm_chunks_waiting"
    CHUNKS_RUNNING = "shotfarm_chunks_running"
    NODES = "shotfarm_nodes"
    NODES_DRAINING = "shotfarm_nodes_draining"
    SEQUENCES = "shotfarm_sequences"
    BUDGET_REMAINING = "shotfarm_budget_remaining_usd"
    LAST_EVENT = "shotfarm_last_event_timestamp_seconds"
    BUILD_INFO = "shotfarm_build_info"
    TAKES = "shotfarm_takes_total"
    TAKE_COST_USD = "shotfarm_take_cost_usd_total"
    PICTURE_COST = "shotfarm_cost_per_picture_second_usd"


EXPORTED: tuple[str, ...] = tuple(v for k, v in vars(MetricNames).items() if k.isupper())
"""Every metric family the farm exports; dashboards and alert rules may name only these."""

OUTCOMES = ("rendered", "failed", "retried")
"""rendered: an accepted render. failed: an attempt after which the chunk gave up.
retried: an attempt that failed, or a render whose frames went bad, so the chunk renders again."""

WAIT_REASONS: tuple[str, ...] = tuple(r.value for r in WaitReason)
"""Why a chunk of an active sequence is not rendering, as the scheduling policy says (scheduling.waiting)."""

# Seconds, from a quick preview chunk to a heavy hero chunk.
DURATION_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
log = logging.getLogger(__name__)
_ACTIVE = (SequenceStatus.SUBMITTED, SequenceStatus.RENDERING, SequenceStatus.STITCHING)
_SEQ = ("show", "sequence")


class Finding(Protocol):
    """What `record_findings` needs from a continuity finding."""

    @property
    def rule(self) -> str: ...

    @property
    def severity(self) -> Any: ...


class FarmMetrics:
    def __init__(self, prices: PriceBook, registry: CollectorRegistry | None = None, engine: str = "pathtracer"):
        """`engine` labels chunk durations; the coordinator passes settings.engine."""
        self.prices = prices
        self.engine = engine
        self.board: Callable[[], Board] | None = None
        """The scheduling board of the state observe is given, when its owner keeps one up to date."""
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        n = MetricNames
        by_class = [*_SEQ, "gpu_class"]
        self.gpu_seconds = Counter(n.GPU_SECONDS, "Node-seconds of every accepted chunk render.", by_class, registry=r)
        self.cost_usd = Counter(n.COST_USD, "USD of every accepted chunk render, as priced.", by_class, registry=r)
        self.chunks = Counter(n.CHUNKS, "Chunk attempts by outcome.", [*by_class, "outcome"], registry=r)
        self.duration = Histogram(
            n.CHUNK_DURATION,
            "Node-seconds a chunk took to render.",
            ["gpu_class", "engine"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.frames = Counter(n.FRAMES_RENDERED, "Frames rendered (handles included).", _SEQ, registry=r)
        self.master_frames = Counter(n.MASTER_FRAMES, "Frames in stitched masters.", _SEQ, registry=r)
        self.findings = Counter(
            n.CONTINUITY_FINDINGS, "Continuity findings on cuts.", [*_SEQ, "rule", "severity"], registry=r
        )
        self.queue_depth = Gauge(n.QUEUE_DEPTH, "Chunks queued for a node slot.", _SEQ, registry=r)
        self.waiting = Gauge(
            n.CHUNKS_WAITING, "Chunks of active sequences not rendering, by why.", ["show", "reason"], registry=r
        )
        self.running = Gauge(n.CHUNKS_RUNNING, "Chunks held by a node now.", _SEQ, registry=r)
        self.nodes = Gauge(n.NODES, "Render nodes in the pool, by GPU class.", ["gpu_class"], registry=r)
        self.draining = Gauge(
            n.NODES_DRAINING, "Render nodes in the pool whose machine is being stopped: they take no new chunk.", ["gpu_class"], registry=r
        )
        self.sequences = Gauge(n.SEQUENCES, "Sequences known to the farm, by status.", ["status"], registry=r)
        self.budget_remaining = Gauge(
            n.BUDGET_REMAINING, "Budget left, for sequences that carry one.", _SEQ, registry=r
        )
        self.last_event = Gauge(
            n.LAST_EVENT, "Time of the last event of an active sequence (seconds since the epoch).", _SEQ, registry=r
        )
        self._labelled = [
            self.gpu_seconds, self.cost_usd, self.chunks, self.duration, self.frames, self.master_frames,
            self.findings, self.queue_depth, self.waiting, self.running, self.nodes, self.draining, self.sequences,
            self.budget_remaining, self.last_event,
        ]  # fmt: skip
        # Set once, never cleared by rebuild: which release is scraped, for dashboards comparing before and after an upgrade.
        self.takes = Counter(n.TAKES, "Takes of generated shots judged, by outcome (accepted or rejected).", [*_SEQ, "outcome"], registry=r)
        self.take_cost = Counter(
            n.TAKE_COST_USD, "USD spent on takes of generated shots, by outcome (accepted or rejected).", [*_SEQ, "outcome"], registry=r
        )
        self.picture_cost = Gauge(
            n.PICTURE_COST, "USD spent so far per second of the sequence's picture, rejected takes and replaced versions included.", _SEQ, registry=r
        )
        self.build_info = Gauge(n.BUILD_INFO, "Always 1; the labels say which shotfarm, Python and Ray run.", ["version", "python", "ray"], registry=r)
        self.build_info.labels(**build_labels()).set(1)
        self._state = FarmState()
        self._waiting_by_seq: dict[str, tuple[str, Tally[str]]] = {}
        self._budgets: dict[str, float] = {}
        self._server: Any = None

    # -- the projection ------------------------------------------------------

    def observe(self, event: ev.Event, state: FarmState) -> None:
        """Fold one event; `state` already has it folded in. Never raises."""
        try:
            self.fold(event, state)
        except Exception:
            # A wrong number on a dashboard must not stop a render.
            log.exception("metrics: could not fold %s", type(event).__name__)

    def fold(self, event: ev.Event, state: FarmState) -> None:
        """observe, with errors raised (for tests)."""
        before, self._state = self._state, state
        match event:
            case ev.ChunkRendered():
                self._rendered(before, state, event)
            case ev.ChunkFailed():
                self._failed(before, state, event)
            case ev.ChunkInvalidated():
                self._invalidated(before, state, event)
            case ev.MasterStitched() if (seq := state.sequences.get(event.sequence_id)) is not None:
                self.master_frames.labels(**_labels(seq)).inc(len(event.frames))
            case ev.CutChecked() if (seq := state.sequences.get(event.sequence_id)) is not None:
                cut = seq.cuts.get(event.cut)
                if cut is not None and event.fingerprint == seq.cut_fingerprint(cut):  # evolve's own test
                    self.record_findings(seq.spec.show, seq.spec.sequence, event.findings)
            case ev.PoolStarted() | ev.NodeJoined() | ev.NodeDraining() | ev.ChunkRefused():
                self._pool(state)
            case ev.TakeChosen() if (seq := state.sequences.get(event.sequence_id)) is not None:
                if seq.chosen.get(event.shot) is event:  # evolve took it: not a stale choice
                    self._chosen(seq, event)
        if event.sequence_id == ev.FARM:
            touched = [s for s in state.sequences.values() if s.status in _ACTIVE]
        else:
            touched = [s for s in [state.sequences.get(event.sequence_id)] if s is not None]
        waiting = self._why_waiting(state, event.at)
        for seq in touched:
            self._refresh(seq, event.at, waiting)
        # Why a sequence waits can change with another's event (a slot freed, a
        # higher priority finished): every active sequence's reasons are current.
        done = {s.sequence_id for s in touched}
        for seq in state.sequences.values():
            if seq.status in _ACTIVE and seq.sequence_id not in done:
                self._waiting_by_seq[seq.sequence_id] = (seq.spec.show, waiting.get(seq.sequence_id, Tally()))
                self._sum_waiting(seq.spec.show)
        self._count_sequences(state)

    def _why_waiting(self, state: FarmState, now: float) -> dict[str, Tally[str]]:
        if not any(s.status in _ACTIVE for s in state.sequences.values()):
            return {}
        # The live farm's maintained board when there is one (core.live_board), else one built from state.
        board = self.board() if self.board is not None else board_of(state)
        return {
            sid: Tally({reason.value: n for reason, n in counts.items()})
            for sid, counts in explain(board, now).items()
        }

    def rebuild(self, state: FarmState) -> None:
        """Re-derive every metric from a replayed state, dropping what was there.

        Counts what the state holds: each current chunk's accumulated cost
        and node-seconds, its standing result and recorded failures, each
        cut's latest findings. Work on shot versions that a ShotRequeued
        replaced, and renders a ChunkInvalidated superseded, are not in the
        state and so not counted; observe the replayed events to count them.
        """
        for metric in self._labelled:
            metric.clear()
        self._waiting_by_seq.clear()
        self._state = state
        self._pool(state)
        waiting = self._why_waiting(state, max((s.submitted_at for s in state.sequences.values()), default=0.0))
        for seq in state.sequences.values():
            labels = _labels(seq)
            for chunk in seq.chunks.values():
                self._rebuild_chunk(state, seq, chunk)
            if seq.master is not None:
                self.master_frames.labels(**labels).inc(len(seq.master.frames))
            for cut in seq.cuts.values():
                self.record_findings(seq.spec.show, seq.spec.sequence, cut.findings)
            for shot, choice in seq.chosen.items():
                if seq.take_current(shot):
                    self._chosen(seq, choice)
            # The replayed state does not say when this sequence last moved; its
            # submission is a lower bound, and the PoolStarted a restart records
            # next refreshes every active sequence.
            self._refresh(seq, seq.submitted_at, waiting)
        self._count_sequences(state)

    def record_findings(self, show: str, sequence: str, findings: Iterable[Finding]) -> None:
        for f in findings:
            severity = getattr(f.severity, "value", f.severity)
            self.findings.labels(show=show, sequence=sequence, rule=f.rule, severity=str(severity)).inc()

    def set_budget(self, sequence_id: str, usd: float) -> None:
        """Export the budget left for a sequence from now on (cost so far subtracted)."""
        self._budgets[sequence_id] = usd
        seq = self._state.sequences.get(sequence_id)
        if seq is not None and seq.status in _ACTIVE:
            self.budget_remaining.labels(**_labels(seq)).set(usd - seq.cost_usd)

    # -- the endpoint --------------------------------------------------------

    def serve(self, port: int, addr: str = "127.0.0.1") -> int:
        """Serve this registry over HTTP in a daemon thread; returns the bound port (0 picks one)."""
        server, _ = start_http_server(port, addr=addr, registry=self.registry)
        self._server = server
        return int(server.server_port)

    def exposition(self) -> tuple[bytes, str]:
        """The registry in Prometheus text format and its content type, for an HTTP handler
        that serves it (the API's /metrics), so no other module imports prometheus_client."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- folds ---------------------------------------------------------------

    def _rendered(self, before: FarmState, state: FarmState, e: ev.ChunkRendered) -> None:
        if not _was_current(before, e.sequence_id, e.chunk_id, e.attempt):
            return  # fenced by evolve: a superseded attempt costs nothing in the log's view
        seq = state.sequences[e.sequence_id]
        self._count_render(seq, e.gpu_class, e.node_seconds, e.cost_usd, len(e.frames))

    def _count_render(self, seq: SequenceState, gpu_class: str, seconds: float, usd: float, frames: int) -> None:
        labels = _labels(seq)
        self.gpu_seconds.labels(**labels, gpu_class=gpu_class).inc(seconds)
        self.cost_usd.labels(**labels, gpu_class=gpu_class).inc(usd)
        self.chunks.labels(**labels, gpu_class=gpu_class, outcome="rendered").inc()
        self.duration.labels(gpu_class=gpu_class, engine=self.engine).observe(seconds)
        self.frames.labels(**labels).inc(frames)

    def _failed(self, before: FarmState, state: FarmState, e: ev.ChunkFailed) -> None:
        if not _was_current(before, e.sequence_id, e.chunk_id, e.attempt):
            return
        seq = state.sequences[e.sequence_id]
        gave_up = seq.chunks[e.chunk_id].status is ChunkStatus.FAILED
        gpu_class = _class_of(before, e.node_id)
        self.chunks.labels(**_labels(seq), gpu_class=gpu_class, outcome="failed" if gave_up else "retried").inc()

    def _invalidated(self, before: FarmState, state: FarmState, e: ev.ChunkInvalidated) -> None:
        old = before.sequences.get(e.sequence_id)
        chunk = old.chunks.get(e.chunk_id) if old is not None else None
        if chunk is None or chunk.status is not ChunkStatus.RENDERED:
            return  # evolve ignored it: already on its way to render again
        gpu_class = _class_of(before, chunk.node_id)
        self.chunks.labels(**_labels(state.sequences[e.sequence_id]), gpu_class=gpu_class, outcome="retried").inc()

    def _rebuild_chunk(self, state: FarmState, seq: SequenceState, chunk: ChunkState) -> None:
        gpu_class = _class_of(state, chunk.node_id)
        if chunk.node_seconds > 0 or chunk.status is ChunkStatus.RENDERED:
            labels = _labels(seq)
            self.gpu_seconds.labels(**labels, gpu_class=gpu_class).inc(chunk.node_seconds)
            self.cost_usd.labels(**labels, gpu_class=gpu_class).inc(chunk.cost_usd)
            self.duration.labels(gpu_class=gpu_class, engine=self.engine).observe(chunk.node_seconds)
        if chunk.status is ChunkStatus.RENDERED:
            self.chunks.labels(**_labels(seq), gpu_class=gpu_class, outcome="rendered").inc()
            self.frames.labels(**_labels(seq)).inc(len(chunk.frames))
        gave_up = 1 if chunk.status is ChunkStatus.FAILED else 0
        if gave_up:
            self.chunks.labels(**_labels(seq), gpu_class=gpu_class, outcome="failed").inc()
        if len(chunk.failures) > gave_up:
            retried = len(chunk.failures) - gave_up
            self.chunks.labels(**_labels(seq), gpu_class=gpu_class, outcome="retried").inc(retried)

    def _pool(self, state: FarmState) -> None:
        # Every priced class is exported, at 0 when absent, so "no nodes of a
        # class" is a series an alert can see rather than a missing one.
        counts = Tally({c: 0 for c in self.prices.usd_per_hour})
        draining = Tally({c: 0 for c in self.prices.usd_per_hour})
        counts.update(n.gpu_class for n in state.nodes.values())
        draining.update(n.gpu_class for n in state.nodes.values() if n.draining)
        for gpu_class, count in counts.items():
            self.nodes.labels(gpu_class=gpu_class).set(count)
            self.draining.labels(gpu_class=gpu_class).set(draining[gpu_class])

    # -- gauges --------------------------------------------------------------

    def _refresh(self, seq: SequenceState, at: float, why: dict[str, Tally[str]]) -> None:
        labels = _labels(seq)
        active = seq.status in _ACTIVE
        waiting: Tally[str] = Tally()
        if active:
            self.queue_depth.labels(**labels).set(seq.chunks.count(ChunkStatus.QUEUED))  # kept counts, not a scan
            self.running.labels(**labels).set(seq.chunks.count(ChunkStatus.RUNNING))
            self.last_event.labels(**labels).set(at)
            waiting = why.get(seq.sequence_id, Tally())
            budget = self._budgets.get(seq.sequence_id, seq.spec.budget_usd)
            if budget is not None:
                self.budget_remaining.labels(**labels).set(budget - seq.cost_usd)
            self.picture_cost.labels(**labels).set(usd_per_second(seq))
            held = sum(len(chunks) for chunks in seq.held.values())
            if held:
                waiting = waiting + Tally({WaitReason.NEIGHBOUR_FRAME.value: held})
        else:
            for gauge in (self.queue_depth, self.running, self.last_event, self.budget_remaining, self.picture_cost):
                _drop(gauge, labels)
        self._waiting_by_seq[seq.sequence_id] = (seq.spec.show, waiting)
        self._sum_waiting(seq.spec.show)

    def _chosen(self, seq: SequenceState, event: ev.TakeChosen) -> None:
        chunks = {c.plan.take: c for c in seq.take_chunks(event.shot)}
        for score in event.scores:
            outcome = "accepted" if score.take == event.take else "rejected"
            self.takes.labels(**_labels(seq), outcome=outcome).inc()
            chunk = chunks.get(score.take)
            if chunk is not None:
                self.take_cost.labels(**_labels(seq), outcome=outcome).inc(chunk.cost_usd)

    def _sum_waiting(self, show: str) -> None:
        total: Tally[str] = Tally({reason: 0 for reason in WAIT_REASONS})
        for owner, counts in self._waiting_by_seq.values():
            if owner == show:
                total.update(counts)
        for reason, count in total.items():
            self.waiting.labels(show=show, reason=reason).set(count)

    def _count_sequences(self, state: FarmState) -> None:
        counts = Tally(s.status for s in state.sequences.values())
        for status in SequenceStatus:
            self.sequences.labels(status=status.value).set(counts[status])


def build_labels() -> dict[str, str]:
    """shotfarm_build_info's labels, read from package metadata: no Ray import for a label."""
    from importlib.metadata import PackageNotFoundError, version

    from orchestrator import __version__

    try:
        ray = version("ray")
    except PackageNotFoundError:
        ray = "none"
    return {"version": __version__, "python": platform.python_version(), "ray": ray}


def _labels(seq: SequenceState) -> dict[str, str]:
    return {"show": seq.spec.show, "sequence": seq.spec.sequence}


def _was_current(state: FarmState, sequence_id: str, chunk_id: str, attempt: int) -> bool:
    """Whether evolve accepted a result for this attempt (the same test it applies)."""
    seq = state.sequences.get(sequence_id)
    chunk = seq.chunks.get(chunk_id) if seq is not None else None
    return chunk is not None and chunk.status is ChunkStatus.RUNNING and chunk.attempt == attempt


def _class_of(state: FarmState, node_id: str | None) -> str:
    node = state.nodes.get(node_id) if node_id is not None else None
    return node.gpu_class if node is not None else "unknown"


def _drop(gauge: Gauge, labels: dict[str, str]) -> None:
    try:
        gauge.remove(*labels.values())
    except KeyError:
        pass  # never set for this sequence
