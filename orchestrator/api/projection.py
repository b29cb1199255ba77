"""FarmView: the API's own fold of the coordinator's event log.

It reads the log through `Farm.events` (in batches, from where it last
stopped), folds every event with the pure core's `evolve` into a FarmState,
and feeds the same events to FarmMetrics, so every view, every number on
/metrics and every server-sent event is a projection of the log and nothing
else. It also keeps what state forgets but people ask for: the cost of shot
versions a re-render replaced (per shot) and cost per GPU class.

Reading is serialised by a lock; `catch_up` after a submission makes the
new sequence visible before the request is answered. This module must never
call anything on the farm but `events`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from dataclasses import dataclass, replace

from orchestrator.api.errors import FarmUnavailable
from orchestrator.api.farm import Farm
from orchestrator.config.cost import PriceBook
from orchestrator.core import events as ev
from orchestrator.core.isolation import fold, isolated
from orchestrator.core.state import FarmState, Policy
from orchestrator.core.status import ChunkStatus
from orchestrator.projections.metrics import FarmMetrics

log = logging.getLogger(__name__)
BATCH = 1000


@dataclass(frozen=True)
class Logged:
    seq: int
    event: ev.Record


class FarmView:
    def __init__(
        self,
        farm: Farm,
        prices: PriceBook = PriceBook(),
        engine: str = "pathtracer",
        recent: int = 8192,
        policy: Policy | None = None,
    ):
        self.farm = farm
        # The coordinator's policy, so that the view explains waiting chunks as the scheduler sees them.
        self.state = FarmState(policy=policy or Policy(engine=engine))
        self.metrics = FarmMetrics(prices=prices, engine=engine)
        self.recent: deque[Logged] = deque(maxlen=recent)
        self.retired_by_shot: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.by_gpu_class: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
        self.baseline: dict[str, int] = {}
        """Frames rendered when this view first saw each sequence live (for the ETA)."""
        self.live_since = time.time()
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._stopping = False
        self._replayed = False

    @property
    def last_seq(self) -> int:
        return self.state.last_seq

    # -- reading the log -----------------------------------------------------

    async def catch_up(self) -> int:
        """Fold everything logged so far; returns the last position folded."""
        async with self._lock:
            while True:
                batch = await self.farm.events(self.state.last_seq, None, BATCH)
                for seq, body in batch:
                    self._fold(seq, ev.record_from_python(body))
                if batch:
                    self._notify()
                if len(batch) < BATCH:
                    break
            if not self._replayed:
                self._replayed = True
                self.live_since = time.time()
                self.baseline = {sid: s.frames_rendered for sid, s in self.state.sequences.items()}
            return self.state.last_seq

    async def run(self, poll: float) -> None:
        """Follow the log until stopped; a farm that does not answer is retried, not fatal."""
        while not self._stopping:
            try:
                await self.catch_up()
            except FarmUnavailable as e:
                log.warning("event log not readable now: %s", e)
            except Exception:
                # Views go stale rather than dead; the next round tries again.
                log.exception("could not fold the event log")
            await asyncio.sleep(poll)

    def stop(self) -> None:
        self._stopping = True
        self._notify()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_beyond(self, seq: int, timeout: float) -> bool:
        """Wait until something past `seq` was folded (or stop); False on timeout."""
        if self.state.last_seq > seq or self._stopping:
            return True
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def events_between(self, after: int, upto: int, sequence_id: str | None) -> list[Logged]:
        """Events in (after, upto], from memory when it still holds them, else from the log."""
        if self.recent and self.recent[0].seq <= after + 1:
            return [x for x in self.recent if after < x.seq <= upto and _for(x.event, sequence_id)]
        out: list[Logged] = []
        while after < upto:
            batch = await self.farm.events(after, sequence_id, BATCH)
            if not batch:
                break
            for seq, body in batch:
                if seq <= upto:
                    out.append(Logged(seq, ev.record_from_python(body)))
            after = batch[-1][0]
        return out

    # -- the fold ------------------------------------------------------------

    def _fold(self, seq: int, event: ev.Record) -> None:
        before = self.state
        if not isolated(before, event.sequence_id):  # a set-aside sequence has nothing to account for
            self._account(before, event)
        state = fold(before, seq, event)
        if not isolated(state, event.sequence_id):
            self.metrics.observe(event, state)  # type: ignore[arg-type]  # an Unreadable is always isolated
        self.state = replace(state, last_seq=seq)
        self.recent.append(Logged(seq, event))
        if self._replayed and isinstance(event, ev.SequenceSubmitted):
            self.baseline[event.sequence_id] = 0

    def _account(self, before: FarmState, event: ev.Record) -> None:
        """What state drops on the floor but cost reports need (read before the fold)."""
        seq = before.sequences.get(event.sequence_id)
        if seq is None:
            return
        if isinstance(event, ev.ShotRequeued):
            spent = sum(c.cost_usd for c in seq.chunks.values() if c.plan.shot == event.shot)
            self.retired_by_shot[event.sequence_id][event.shot] += spent
        elif isinstance(event, ev.ChunkRendered):
            chunk = seq.chunks.get(event.chunk_id)
            if chunk is not None and chunk.status is ChunkStatus.RUNNING and chunk.attempt == event.attempt:
                totals = self.by_gpu_class[event.sequence_id][event.gpu_class]
                totals[0] += event.node_seconds
                totals[1] += event.cost_usd


def _for(event: ev.Event, sequence_id: str | None) -> bool:
    return sequence_id is None or event.sequence_id == sequence_id
