"""The coordinator: the one impure loop around the pure core, and nothing more.

For every event it appends to the log, folds it into state, asks `decide`
what to do, and carries the commands out: a command either records events at
once (what core.admission says to record) or starts an effect that calls a
node and records its answer later (coordinator.effects). It chooses nothing
itself. Events are handled strictly one at a time, depth first, without
recursion: what a command records is folded and decided on before the next
command of the same event runs, as the commands were decided in that order.

Group commit: events that arrive together (node answers that came in while
the loop was busy, or one request) are handled as one batch, and everything
the batch records is appended in one log transaction. Effects (node calls,
taking a call back) are held until that transaction has committed, so
nothing acts on an event before it is durable; a crash before the commit
loses the whole batch as if it had never arrived, a crash after it replays
the batch exactly as if its events had been appended one by one.

It takes its event log, store and node pools through the protocols below;
coordinator.actor opens the farm's own (SQLite, the store URL, Ray actors)
in the process Ray starts it in, since an SQLite connection cannot travel.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

from nodes.pool import ClassPool, NodeSlot, class_slots, local_slots
from nodes.storage.base import Store
from orchestrator.cluster.raynodes import hosts
from orchestrator.config.settings import FarmSettings
from orchestrator.coordinator import effects
from orchestrator.core import admission, layout
from orchestrator.core import events as ev
from orchestrator.core.admission import BadRequest
from orchestrator.core.commands import (
    ApplyFix,
    CheckCut,
    ChooseTake,
    Command,
    Deliver,
    Dispatch,
    ExceedBudget,
    Fail,
    Finish,
    Forgive,
    Plan,
    Preempt,
    Regenerate,
    RetryLater,
    StitchSegment,
)
from orchestrator.core.decide import decide
from orchestrator.core.demand import demand_on
from orchestrator.core.isolation import RETIRE_HINT, RetireRefused, fold, isolated, retirement
from orchestrator.core.live_board import LiveBoard
from orchestrator.core.state import FarmState
from orchestrator.eventlog.sqlite import LogWriteFailed
from orchestrator.projections.progress import Progress, progress_of
from orchestrator.scheduling.ids import AttemptKey
from orchestrator.scheduling.waiting import WaitReason, explain
from pipelines.spec.sequence import Sequence

logger = logging.getLogger(__name__)

ENDED = (ev.SequenceCompleted, ev.SequenceFailed, ev.SequenceCancelled)
"""A sequence's last event: what the master node holds for it (its encodes) can go."""


class EventLog(Protocol):
    def append(self, event: ev.Event) -> int: ...

    def batch(self) -> AbstractContextManager[None]:
        """Appends inside are committed together on leaving (LogWriteFailed: none of them)."""

    def read(self, after: int = 0, sequence_id: str | None = None, limit: int | None = None) -> Iterator[tuple[int, ev.Record]]: ...

    def close(self) -> None: ...


@dataclasses.dataclass
class Nodes:
    """The actors a pool start gave: render nodes by id, the master node, the check node."""

    render: dict[str, Any]
    master: Any
    checker: Any


class NodePools(Protocol):
    def start(self, slots: list[NodeSlot], gpus: int) -> Nodes: ...

    def cancel(self, call: Any) -> None:
        """Take back a call still queued at its node (a running one finishes)."""


class Coordinator:
    def __init__(self, log: EventLog, store: Store, pools: NodePools, settings: FarmSettings):
        self.settings = settings
        self.log, self.store, self.pools = log, store, pools
        metrics = None
        if settings.metrics_port is not None:
            from orchestrator.projections.metrics import FarmMetrics

            metrics = FarmMetrics(prices=settings.prices, engine=settings.engine)
        self.state = FarmState(policy=settings.policy)
        self.live = LiveBoard(self.state)
        """The scheduling board, kept up to date event by event beside the state (core.live_board)."""
        if metrics is not None:
            metrics.board = lambda: self.live.board  # waiting reasons from the maintained board, not one per event
        for seq, record in self.log.read():
            last, self.state = self.state, fold(self.state, seq, record)
            self.live.follow(last, self.state, record)
            if metrics is not None and not isolated(self.state, record.sequence_id):  # replayed facts count like live ones
                metrics.observe(record, self.state)  # type: ignore[arg-type]  # an Unreadable is always isolated
        for bad in self.state.unfoldable.values():
            logger.error("%s is set aside: %s; %s", bad.sequence_id, bad, RETIRE_HINT, extra={"sequence": bad.sequence_id})
        self.nodes: dict[str, Any] = {}
        self.master: Any = None
        self.checker: Any = None
        self.calls: dict[AttemptKey, Any] = {}
        """Render calls in flight, so that a Preempt can cancel the ones still waiting at a node."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inbox: collections.deque[ev.Event] = collections.deque()
        """Events that arrived and wait for the next batch (node answers, timers)."""
        self._draining = False
        self._held: list[Callable[[], None]] | None = None
        """Effects of the batch being handled, started once it is committed."""
        self._sending: dict[str, list[tuple[Dispatch, str]]] = {}
        """node -> the chunks the batch being handled sends it: one call carries them (effects.render)."""
        self._started = time.time()
        self._baseline: dict[str, int] = {}
        self._observers: list[Callable[[ev.Event, FarmState], None]] = []
        self._lock_fd: int | None = None
        if metrics is not None:
            metrics.serve(settings.metrics_port, settings.metrics_addr)
            self._observers.append(metrics.observe)

    # -- the loop ------------------------------------------------------------

    def emit(self, event: ev.Event) -> None:
        """Record an event and everything it leads to now, with whatever arrived before it."""
        self._inbox.append(event)
        self._drain()

    def post(self, event: ev.Event) -> None:
        """Record an event soon, in one batch with others that arrive meanwhile (what effects call)."""
        self._inbox.append(event)
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().call_soon(self._drain)

    def _drain(self) -> None:
        self._draining = False
        while self._inbox:
            arrived = list(self._inbox)
            self._inbox.clear()
            self._batch(arrived)

    def _batch(self, arrived: list[ev.Event]) -> None:
        """Handle events as one batch: one transaction for all they record, then their effects."""
        before, held = self.state, []
        self._held = held
        try:
            with self.log.batch():
                self._handle(arrived)
        except LogWriteFailed:
            self.state, held[:] = before, []  # nothing of the batch is in the log: nothing of it happened
            self.live = LiveBoard(before)
            raise
        finally:
            self._held = None
            self._sending = {}
            for start in held:  # durable now: the effects may act on it
                start()

    def _later(self, start: Callable[[], None]) -> None:
        if self._held is None:
            start()
        else:
            self._held.append(start)

    def _handle(self, arrived: list[ev.Event]) -> None:
        """The events and everything they lead to, depth first, one at a time."""
        pending: list[Iterator[ev.Event]] = [iter(arrived)]
        while pending:
            event = next(pending[-1], None)
            if event is None:
                pending.pop()
                continue
            seq = self.log.append(event)  # committed with its batch, before any effect runs
            last, self.state = self.state, fold(self.state, seq, event)
            self.live.follow(last, self.state, event)
            if isolated(self.state, event.sequence_id):
                continue  # set aside (now or before): nothing is counted or done for it
            for observe in self._observers:  # projections: metrics, live views
                observe(event, self.state)
            if isinstance(event, ENDED):
                self._spawn(lambda sid=event.sequence_id: effects.forget(self, sid))
            commands = decide(self.state, event, self.live.board)
            # Lazily: a command runs only once what the one before it recorded has been decided on.
            pending.append(e for command in commands for e in self._execute(command))

    def _spawn(self, effect: Callable[[], Any]) -> None:
        """Start an effect (a coroutine function) once the batch that asked for it is committed."""

        def start() -> None:
            task = asyncio.get_running_loop().create_task(effect())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self._later(start)

    def _send(self, command: Dispatch, gpu_class: str) -> None:
        """Send a chunk to its node once the batch is committed, in one call with the batch's other chunks for that node."""
        sending = self._sending.get(command.node_id)
        if sending is None:
            sending = self._sending[command.node_id] = []
            self._spawn(lambda: effects.render(self, sending))
        sending.append((command, gpu_class))

    def _execute(self, command: Command) -> Iterable[ev.Event]:
        """The events a command records now; effects it starts record theirs when they finish."""
        now, s = time.time(), self.settings
        match command:
            case Plan(sequence_id=sid):
                yield admission.plan(self.state, sid, s.chunk_frames, now)
            case Dispatch():
                gpu_class = self.state.nodes[command.node_id].gpu_class
                yield command.started(now, gpu_class)
                self._send(command, gpu_class)
            case RetryLater():
                self._spawn(lambda: effects.requeue_after(self, command))
            case Preempt():
                yield command.preempted(now)
                call = self.calls.pop(command.key, None)
                if call is not None and not any(other is call for other in self.calls.values()):
                    self._later(lambda: self.pools.cancel(call))  # a call that carries a chunk still wanted renders on
            case ExceedBudget():
                yield command.exceeded(now)
            case Forgive():
                self._spawn(lambda: effects.forgive_after(self, command))
            case CheckCut(sequence_id=sid, cut=cut):
                self._spawn(lambda: effects.check(self, sid, cut))
            case ChooseTake(sequence_id=sid, shot=shot):
                self._spawn(lambda: effects.choose_take(self, sid, shot))
            case Regenerate(sequence_id=sid, shot=shot, reason=reason):
                yield admission.requeue(self.state, sid, shot, {}, None, s.chunk_frames, now, reason)
            case ApplyFix():
                proposed, applied, requeue = admission.fix(self.state, command, now)
                yield proposed
                if applied is not None:
                    yield applied
                elif requeue is not None:
                    yield admission.requeue(
                        self.state, command.sequence_id, requeue.shot, requeue.patch, command.cut, s.chunk_frames, time.time()
                    )
            case StitchSegment(sequence_id=sid, segment=segment):
                self._spawn(lambda: effects.stitch_segment(self, sid, segment))
            case Deliver(sequence_id=sid):
                self._spawn(lambda: effects.deliver(self, sid))
            case Finish(sequence_id=sid):
                yield ev.SequenceCompleted(at=now, sequence_id=sid)
            case Fail(sequence_id=sid, reason=reason):
                yield ev.SequenceFailed(at=now, sequence_id=sid, reason=reason)

    def _record(self, events: Iterable[ev.Event]) -> None:
        """Events of one request: one batch."""
        self._inbox.extend(events)
        self._drain()

    # -- the actor's API -----------------------------------------------------

    async def start(self, cpus: int, gpus: int) -> list[str]:
        """Start render nodes, the master and the check node, and record the pool."""
        pool, farm = self.settings.pool, self.settings.farm
        if farm is None:
            slots = local_slots(cpus, gpus, pool.cpu_nodes, pool.gpu_nodes)
            per_node = {s.gpu_class: pool.slots_per_node for s in slots}
        else:  # one pool per node class, placed by the class's Ray resource
            slots = class_slots([ClassPool(c.name, c.count, c.resource, c.gpus, c.cpus) for c in farm.classes])
            per_node = {c.name: c.slots for c in farm.classes}
        # Before any node of this farm writes: what a killed run left half-written goes.
        for seq in self.state.sequences.values():
            self.store.discard_partial(layout.sequence_prefix(seq.spec.show, seq.spec.sequence))
        started = self.pools.start(slots, gpus)
        self.nodes, self.master, self.checker = started.render, started.master, started.checker
        infos = [ev.NodeInfo(node_id=s.node_id, gpu_class=s.gpu_class, slots=per_node[s.gpu_class]) for s in slots]
        # Nodes not waited for join the pool when they answer (their worker may join the Ray cluster mid-run).
        up = infos if pool.wait_for_nodes else []
        self.emit(ev.PoolStarted(at=time.time(), sequence_id=ev.FARM, nodes=tuple(up)))
        for info in infos[len(up) :]:
            self._spawn(lambda info=info: effects.join(self, info))
        return [s.node_id for s in slots]

    async def submit(self, spec: dict[str, Any]) -> str:
        """Submit a sequence; the same spec again resumes it, a changed one is refused."""
        sequence = Sequence.model_validate(spec)
        sid = admission.sequence_id_of(sequence)
        events = admission.submission(self.state, sequence, time.time())
        existing = self.state.sequences.get(sid)
        if existing is None:
            self._baseline[sid] = 0
        else:
            self._baseline.setdefault(sid, existing.frames_rendered)
        self._record(events)
        return sid

    async def rerender(self, sequence_id: str, shot: str) -> None:
        """Render a shot again as a new version; only its master segments and the
        deliverables are rebuilt afterwards."""
        seq = admission.rerender(self.state, sequence_id, shot)
        self._baseline[sequence_id] = seq.frames_rendered - sum(
            len(c.frames) for c in seq.chunks.values() if c.plan.shot == shot
        )
        self.emit(admission.requeue(self.state, sequence_id, shot, {}, None, self.settings.chunk_frames, time.time()))

    async def cancel(self, sequence_id: str, reason: str = "cancelled by user") -> None:
        """Stop dispatching the sequence; chunks already on nodes finish and are ignored."""
        self.emit(admission.cancellation(self.state, sequence_id, reason, time.time()))

    async def retire(self, sequence_id: str, reason: str, by: str = "operator") -> None:
        """Set a sequence aside for good (an unfoldable or finished one); its id may then be submitted anew."""
        try:
            event = retirement(self.state, sequence_id, reason, by, time.time())
        except RetireRefused as e:
            raise BadRequest(str(e)) from None
        self.emit(event)

    async def waiting(self, sequence_id: str) -> dict[str, int]:
        """How many of the sequence's chunks wait, by the policy's reason (scheduling.waiting)."""
        counts = explain(self.live.board, time.time()).get(sequence_id, {})
        out = {reason.value: n for reason, n in counts.items() if n}
        seq = self.state.sequences.get(sequence_id)
        held = sum(len(chunks) for chunks in seq.held.values()) if seq is not None else 0
        if held:  # not on the board: a generated shot waits for its neighbour's frame
            out[WaitReason.NEIGHBOUR_FRAME.value] = held
        return out

    async def demand(self) -> dict[str, int]:
        """Chunks wanting each node class now (core.demand): what cluster mode scales to."""
        return demand_on(self.live.board)

    async def holding(self) -> list[str]:
        """Ray nodes where a render node holds a chunk in flight: what cluster mode must not scale away."""
        busy = {n: self.nodes[n] for n, node in self.state.nodes.items() if node.running and n in self.nodes}
        return sorted(set((await asyncio.to_thread(hosts, busy)).values()))

    async def sequences(self) -> list[str]:
        return list(self.state.sequences)

    async def events(self, after: int = 0, sequence_id: str | None = None, limit: int = 1000) -> list[tuple[int, dict[str, Any]]]:
        """Logged events after a position (for live views): (seq, event as JSON)."""
        return [(seq, record.model_dump(mode="json")) for seq, record in self.log.read(after, sequence_id, limit)]

    async def progress(self, sequence_id: str) -> Progress:
        seq = self.state.sequences[sequence_id]
        return progress_of(seq, time.time() - self._started, self._baseline.get(sequence_id, 0))

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self.log.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
