"""The coordinator: the one impure loop around the pure core.

For every event it appends to the log (durably, first), folds it into state,
asks `decide` what to do, and carries the commands out by calling node
actors. Results come back as events through the same path. It runs as an
async Ray actor so that progress queries are answered while chunks render;
everything it does between two awaits is synchronous, so events are handled
strictly one at a time.

Only one coordinator may own a log: it holds an exclusive lock on it, and a
successor (a restart after a crash) waits until the old one has gone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayActorError, TaskCancelledError

from nodes.actors.master import SourceFrameBad
from nodes.errors import StoreUnavailable
from nodes.pool import ClassPool, class_slots, local_slots, start_check_node, start_master_node, start_render_nodes
from nodes.protocol import CheckResult, ChunkResult, DeliverResult, SegmentResult
from nodes.storage import open_store
from orchestrator.config.settings import FarmSettings
from orchestrator.coordinator.failures import cause_of, classify
from orchestrator.coordinator.orders import check_order, chunk_order, deliver_order, segment_order
from orchestrator.core import events as ev
from orchestrator.core import layout
from orchestrator.core.commands import (
    ApplyFix,
    CheckCut,
    Command,
    Deliver,
    Dispatch,
    ExceedBudget,
    Fail,
    Finish,
    Forgive,
    Plan,
    Preempt,
    RetryLater,
    StitchSegment,
)
from orchestrator.core.decide import backoff, decide
from orchestrator.core.demand import demand_by_class
from orchestrator.core.isolation import RETIRE_HINT, RetireRefused, fold, isolated, retirement
from orchestrator.core.snapshot import board_of
from orchestrator.core.state import FarmState
from orchestrator.core.status import SequenceStatus
from orchestrator.eventlog.sqlite import LogOwned, SqliteEventLog, own_log
from orchestrator.projections.progress import Progress, progress_of
from orchestrator.scheduling.chunk_size import plan_sized
from orchestrator.scheduling.farm import FarmConfigError, Need
from orchestrator.scheduling.ids import AttemptKey, sequence_id
from orchestrator.scheduling.waiting import explain
from pipelines.chunking import ChunkPlan
from pipelines.continuity.findings import Grade, Requeue, apply_patch
from pipelines.spec.sequence import Sequence

log = logging.getLogger(__name__)


class BadRequest(ValueError):
    """Something asked of the coordinator that it must refuse; the message says why."""


class SpecConflict(BadRequest):
    """The log already holds this sequence with a different spec."""


class LogBusy(BadRequest):
    """Another coordinator still owns the event log."""


SCHEDULING_FIELDS = {"priority", "budget_usd"}
"""How a sequence is scheduled, not what it renders: changing them resumes the same sequence."""


def spec_digest(sequence: Sequence) -> str:
    content = sequence.model_dump(mode="json", exclude=SCHEDULING_FIELDS)
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def sequence_id_of(sequence: Sequence) -> str:
    return sequence_id(sequence.show, sequence.sequence)


def _lock(path: Path, timeout: float) -> int:
    try:
        return own_log(path, timeout)
    except LogOwned as e:
        raise LogBusy(str(e)) from None


class Coordinator:
    def __init__(self, log_path: str, store_url: str, settings: FarmSettings):
        self.settings = settings
        self.store_url = store_url
        self._lock_fd = _lock(Path(log_path + ".lock"), settings.timeouts.lock)
        self.log = SqliteEventLog(log_path)
        metrics = None
        if settings.metrics_port is not None:
            from orchestrator.projections.metrics import FarmMetrics

            metrics = FarmMetrics(prices=settings.prices, engine=settings.engine)
        self.state = FarmState(policy=settings.policy)
        for seq, record in self.log.read():
            self.state = fold(self.state, seq, record)
            if metrics is not None and not isolated(self.state, record.sequence_id):  # replayed facts count like live ones
                metrics.observe(record, self.state)  # type: ignore[arg-type]  # an Unreadable is always isolated
        for bad in self.state.unfoldable.values():
            log.error("%s is set aside: %s; %s", bad.sequence_id, bad, RETIRE_HINT)
        self.nodes: dict[str, Any] = {}
        self.master: Any = None
        self._tasks: set[asyncio.Task] = set()
        self._calls: dict[AttemptKey, Any] = {}
        """Render calls in flight, so that a Preempt can cancel the ones still waiting at a node."""
        self._started = time.time()
        self._baseline: dict[str, int] = {}
        self._observers: list[Callable[[ev.Event, FarmState], None]] = []
        if metrics is not None:
            metrics.serve(settings.metrics_port, settings.metrics_addr)
            self._observers.append(metrics.observe)

    # -- the loop ------------------------------------------------------------

    def _emit(self, event: ev.Event) -> None:
        seq = self.log.append(event)  # durable before anything acts on it
        self.state = fold(self.state, seq, event)
        if isolated(self.state, event.sequence_id):
            return  # set aside (now or before): nothing is counted or done for it
        for observe in self._observers:  # projections: metrics, live views
            observe(event, self.state)
        for command in decide(self.state, event):
            self._execute(command)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _execute(self, command: Command) -> None:
        now = time.time()
        match command:
            case Plan(sequence_id=sid):
                seq = self.state.sequences[sid]
                chunks = self._plan(seq.spec)
                versions = {shot.name: 1 for shot in seq.spec.shots}
                self._emit(ev.ShotsPlanned(at=now, sequence_id=sid, versions=versions, chunks=tuple(chunks)))
            case Dispatch():
                node = self.state.nodes[command.node_id]
                self._emit(command.started(now, node.gpu_class))
                self._spawn(self._render(command, node.gpu_class))
            case RetryLater():
                self._spawn(self._requeue_after(command))
            case Preempt():
                self._emit(command.preempted(now))
                ref = self._calls.pop(command.key, None)
                if ref is not None:
                    ray.cancel(ref)  # a call still queued at the node never starts; a running one finishes
            case ExceedBudget():
                self._emit(command.exceeded(now))
            case Forgive():
                self._spawn(self._forgive_after(command))
            case CheckCut(sequence_id=sid, cut=cut):
                self._spawn(self._check(sid, cut))
            case ApplyFix():
                self._apply_fix(command)
            case StitchSegment(sequence_id=sid, segment=segment):
                self._spawn(self._stitch_segment(sid, segment))
            case Deliver(sequence_id=sid):
                self._spawn(self._deliver(sid))
            case Finish(sequence_id=sid):
                self._emit(ev.SequenceCompleted(at=now, sequence_id=sid))
            case Fail(sequence_id=sid, reason=reason):
                self._emit(ev.SequenceFailed(at=now, sequence_id=sid, reason=reason))

    # -- effects -------------------------------------------------------------

    def _plan(self, spec: Sequence, shots: set[str] | None = None) -> list[ChunkPlan]:
        """Chunks sized toward the farm's target duration once the runtime model knows the engine."""
        nodes = Counter(node.gpu_class for node in self.state.nodes.values())
        s = self.settings
        return plan_sized(spec, self.state.runtime, self.state.policy.farm, s.engine, s.chunk_frames, nodes, shots)

    async def _render(self, command: Dispatch, gpu_class: str) -> None:
        base = dict(sequence_id=command.sequence_id, chunk_id=command.chunk_id, attempt=command.attempt)
        key = command.key
        try:
            order = chunk_order(self.state.sequences[command.sequence_id], command, self.settings.engine)
            ref = self._calls[key] = self.nodes[command.node_id].render.remote(order)
            result: ChunkResult = await asyncio.wait_for(_awaitable(ref), self.settings.timeouts.chunk)
        except TaskCancelledError:
            return  # preempted: ChunkPreempted already put the chunk back in the queue
        except Exception as e:  # classified once, here, into a retry policy
            self._calls.pop(key, None)
            retryable, message = classify(e)
            lost = isinstance(e, RayActorError)
            if lost:
                # Ray is restarting the node: its slots stay held by this attempt until it
                # answers again, so no chunk is sent there only to fail on arrival.
                await self._node_back(command.node_id)
            cause = cause_of(e)
            # Neither a replaced process nor a store that is down says anything about the node.
            node_fault = not lost and not isinstance(cause, StoreUnavailable)
            self._emit(
                ev.ChunkFailed(
                    at=time.time(), node_id=command.node_id, error=message, retryable=retryable,
                    node_fault=node_fault, **base,
                )
            )
            return
        self._calls.pop(key, None)
        frames = tuple(ev.FrameRecord(frame=f.frame, key=f.key, digest=f.digest) for f in result.frames)
        self._emit(
            ev.ChunkRendered(
                at=time.time(),
                node_id=command.node_id,
                gpu_class=gpu_class,
                frames=frames,
                node_seconds=result.seconds,
                cost_usd=self.settings.prices.cost(gpu_class, result.seconds),
                **base,
            )
        )

    async def _node_back(self, node_id: str) -> None:
        """Wait (bounded) until a lost node answers again."""
        deadline = time.monotonic() + self.settings.timeouts.call
        while time.monotonic() < deadline:
            try:
                await asyncio.wait_for(_awaitable(self.nodes[node_id].ping.remote()), self.settings.timeouts.call)
                return
            except RayActorError:  # still restarting
                await asyncio.sleep(0.5)
            except Exception:
                return  # the retry policy takes it from here

    async def _call(self, call: Callable[[], Any], timeout: float) -> Any:
        """A check, stitch or delivery, tried again with backoff while it fails transiently (a store outage)."""
        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                return await asyncio.wait_for(_awaitable(call()), timeout)
            except Exception as e:
                if attempt == self.settings.max_attempts or not classify(e)[0]:
                    raise
            await asyncio.sleep(backoff(self.state, attempt))

    async def _requeue_after(self, command: RetryLater) -> None:
        await asyncio.sleep(command.delay)
        self._emit(
            ev.ChunkQueued(
                at=time.time(), sequence_id=command.sequence_id, chunk_id=command.chunk_id, reason="retry after failure"
            )
        )

    async def _forgive_after(self, command: Forgive) -> None:
        await asyncio.sleep(command.delay)
        self._emit(ev.NodeForgiven(at=time.time(), sequence_id=command.sequence_id, node_id=command.node_id))

    async def _check(self, sequence_id: str, cut: str) -> None:
        try:
            order = check_order(self.state.sequences[sequence_id], cut)
            result: CheckResult = await self._call(lambda: self.checker.check.remote(order), self.settings.timeouts.chunk)
        except Exception as e:
            _, message = classify(e)
            self._emit(ev.SequenceFailed(at=time.time(), sequence_id=sequence_id, reason=f"checking {cut}: {message}"))
            return
        self._emit(
            ev.CutChecked(
                at=time.time(),
                sequence_id=sequence_id,
                cut=cut,
                fingerprint=result.fingerprint,
                findings=result.findings,
                report_key=result.report_key,
            )
        )

    def _apply_fix(self, command: ApplyFix) -> None:
        seq = self.state.sequences[command.sequence_id]
        fix = command.fix
        now = time.time()
        base = dict(at=now, sequence_id=seq.sequence_id, cut=command.cut)
        self._emit(ev.FixProposed(rule=command.rule, fix=fix, attempt=seq.cuts[command.cut].attempts, **base))
        if isinstance(fix, Grade):
            self._emit(ev.FixApplied(shot=fix.shot, grade=fix.cdl, **base))
            return
        assert isinstance(fix, Requeue)
        self._requeue(command.sequence_id, fix.shot, fix.patch, command.cut)

    def _requeue(self, sequence_id: str, shot: str, patch: dict[str, Any], cut: str | None) -> None:
        """Record a new version of the shot (patched) and the chunks it renders as."""
        seq = self.state.sequences[sequence_id]
        patched = apply_patch(seq.spec.shot(shot), patch)
        spec = seq.spec.model_copy(update={"shots": tuple(patched if s.name == shot else s for s in seq.spec.shots)})
        self._emit(
            ev.ShotRequeued(
                at=time.time(),
                sequence_id=sequence_id,
                cut=cut,
                shot=shot,
                patch=patch,
                version=seq.versions[shot] + 1,
                shot_spec=patched.model_dump(mode="json"),
                chunks=tuple(self._plan(spec, {shot})),
            )
        )

    async def _stitch_segment(self, sequence_id: str, segment: str) -> None:
        try:
            order = segment_order(self.state.sequences[sequence_id], segment)
            result: SegmentResult = await self._call(
                lambda: self.master.stitch_segment.remote(order), self.settings.timeouts.stitch
            )
        except Exception as e:
            self._master_failed(sequence_id, f"segment {segment}", e)
            return
        self._emit(
            ev.SegmentStitched(
                at=time.time(),
                sequence_id=sequence_id,
                segment=result.segment,
                fingerprint=result.fingerprint,
                frames=tuple(ev.FrameRecord(**f.model_dump()) for f in result.frames),
            )
        )

    def _master_failed(self, sequence_id: str, what: str, e: Exception) -> None:
        """A bad source frame sends its chunk back to render; anything else fails the sequence."""
        cause = cause_of(e)
        seq = self.state.sequences[sequence_id]
        if isinstance(cause, SourceFrameBad):
            chunk = seq.chunk_holding(cause.shot, cause.frame)
            if chunk is not None and chunk.attempt < self.settings.max_attempts:
                self._emit(
                    ev.ChunkInvalidated(
                        at=time.time(), sequence_id=sequence_id, chunk_id=chunk.plan.chunk_id, reason=str(cause)
                    )
                )
                return
        _, message = classify(e)
        if seq.status in (SequenceStatus.RENDERING, SequenceStatus.STITCHING):
            self._emit(ev.SequenceFailed(at=time.time(), sequence_id=sequence_id, reason=f"{what}: {message}"))

    async def _deliver(self, sequence_id: str) -> None:
        try:
            order = deliver_order(self.state.sequences[sequence_id], self.settings.burn_in)
            result: DeliverResult = await self._call(lambda: self.master.deliver.remote(order), self.settings.timeouts.stitch)
        except Exception as e:
            self._master_failed(sequence_id, "deliverables", e)
            return
        record = lambda f: ev.FrameRecord(**f.model_dump())  # noqa: E731
        self._emit(
            ev.MasterStitched(
                at=time.time(),
                sequence_id=sequence_id,
                frames=tuple(record(f) for f in order.frames),
                contact_sheet=record(result.contact_sheet),
                range={"first": order.frames[0].frame, "last": order.frames[-1].frame},
                deliverables={k: record(v) for k, v in result.deliverables.items()},
                maxcll=result.maxcll,
                maxfall=result.maxfall,
            )
        )

    # -- the actor's API -----------------------------------------------------

    async def start(self, cpus: int, gpus: int) -> list[str]:
        """Start render nodes and the master node, and record the pool."""
        pool, farm = self.settings.pool, self.settings.farm
        if farm is None:
            slots = local_slots(cpus, gpus, pool.cpu_nodes, pool.gpu_nodes)
            per_node = {s.gpu_class: pool.slots_per_node for s in slots}
        else:  # one pool per node class, placed by the class's Ray resource
            slots = class_slots([ClassPool(c.name, c.count, c.resource, c.gpus, c.cpus) for c in farm.classes])
            per_node = {c.name: c.slots for c in farm.classes}
        # Before any node of this farm writes: what a killed run left half-written goes.
        store = open_store(self.store_url)
        for seq in self.state.sequences.values():
            store.discard_partial(layout.sequence_prefix(seq.spec.show, seq.spec.sequence))
        timeout = self.settings.timeouts.call
        self.nodes = start_render_nodes(slots, self.store_url, pool.torch_threads, timeout, wait=pool.wait_for_nodes)
        self.master = start_master_node(self.store_url, timeout)
        self.checker = start_check_node(self.store_url, gpus, timeout)
        infos = tuple(ev.NodeInfo(node_id=s.node_id, gpu_class=s.gpu_class, slots=per_node[s.gpu_class]) for s in slots)
        self._emit(ev.PoolStarted(at=time.time(), sequence_id=ev.FARM, nodes=infos))
        return [s.node_id for s in slots]

    async def submit(self, spec: dict[str, Any]) -> str:
        """Submit a sequence; the same spec again resumes it, a changed one is refused."""
        sequence = Sequence.model_validate(spec)
        sid, digest = sequence_id_of(sequence), spec_digest(sequence)
        self._refuse_unfoldable(sid)
        width, height = sequence.resolution
        try:  # a shot no class can run is refused now, not left queued for ever
            self.state.policy.farm.check_sequence({s.name: Need(self.settings.engine, width * height) for s in sequence.shots})
        except FarmConfigError as e:
            raise BadRequest(str(e)) from None
        existing = self.state.sequences.get(sid)
        if existing is not None:
            if existing.spec_digest != digest:
                raise SpecConflict(
                    f"this output folder already holds {sid} rendered from a different spec; "
                    "use another --out to render the changed spec"
                )
            self._baseline.setdefault(sid, existing.frames_rendered)
            old = existing.spec
            if (old.priority, old.budget_usd) != (sequence.priority, sequence.budget_usd):
                self._emit(
                    ev.SchedulingChanged(
                        at=time.time(), sequence_id=sid, priority=sequence.priority, budget_usd=sequence.budget_usd
                    )
                )
            return sid
        self._baseline[sid] = 0
        self._emit(
            ev.SequenceSubmitted(
                at=time.time(), sequence_id=sid, spec=sequence.model_dump(mode="json"), spec_digest=digest
            )
        )
        return sid

    async def rerender(self, sequence_id: str, shot: str) -> None:
        """Render a shot again as a new version; only its master segments and the
        deliverables are rebuilt afterwards."""
        self._refuse_unfoldable(sequence_id)
        seq = self.state.sequences.get(sequence_id)
        if seq is None:
            raise BadRequest(f"no sequence {sequence_id}")
        if shot not in seq.versions:
            raise BadRequest(f"--rerender {shot}: {sequence_id} has no such shot (shots: {', '.join(seq.versions)})")
        self._baseline[sequence_id] = seq.frames_rendered - sum(
            len(c.frames) for c in seq.chunks.values() if c.plan.shot == shot
        )
        self._requeue(sequence_id, shot, {}, None)

    async def cancel(self, sequence_id: str, reason: str = "cancelled by user") -> None:
        """Stop dispatching the sequence; chunks already on nodes finish and are ignored."""
        self._refuse_unfoldable(sequence_id)
        seq = self.state.sequences.get(sequence_id)
        if seq is None:
            raise BadRequest(f"no sequence {sequence_id}")
        if seq.status in (SequenceStatus.COMPLETED, SequenceStatus.FAILED, SequenceStatus.CANCELLED):
            raise BadRequest(f"{sequence_id} is already {seq.status.value}")
        self._emit(ev.SequenceCancelled(at=time.time(), sequence_id=sequence_id, reason=reason))

    async def retire(self, sequence_id: str, reason: str, by: str = "operator") -> None:
        """Set a sequence aside for good (an unfoldable or finished one); its id may then be submitted anew."""
        try:
            event = retirement(self.state, sequence_id, reason, by, time.time())
        except RetireRefused as e:
            raise BadRequest(str(e)) from None
        self._emit(event)

    def _refuse_unfoldable(self, sequence_id: str) -> None:
        bad = self.state.unfoldable.get(sequence_id)
        if bad is not None:
            raise BadRequest(f"{sequence_id} is set aside: {bad}; {RETIRE_HINT}")

    async def unfoldable(self) -> list[dict[str, Any]]:
        """Sequences set aside at a record that could not be folded (for /healthz and operators)."""
        return [dataclasses.asdict(u) for u in self.state.unfoldable.values()]

    async def waiting(self, sequence_id: str) -> dict[str, int]:
        """How many of the sequence's chunks wait, by the policy's reason (scheduling.waiting)."""
        counts = explain(board_of(self.state), time.time()).get(sequence_id, {})
        return {reason.value: n for reason, n in counts.items() if n}

    async def demand(self) -> dict[str, int]:
        """Chunks wanting each node class now (scheduling.demand): what cluster mode scales to."""
        return demand_by_class(self.state)

    async def sequences(self) -> list[str]:
        return list(self.state.sequences)

    async def events(self, after: int = 0, sequence_id: str | None = None, limit: int = 1000) -> list[tuple[int, dict]]:
        """Logged events after a position (for live views): (seq, event as JSON)."""
        return [(seq, record.model_dump(mode="json")) for seq, record in self.log.read(after, sequence_id, limit)]

    async def progress(self, sequence_id: str) -> Progress:
        seq = self.state.sequences[sequence_id]
        return progress_of(seq, time.time() - self._started, self._baseline.get(sequence_id, 0))

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self.log.close()
        os.close(self._lock_fd)


async def _awaitable(ref: Any) -> Any:
    return await ref
