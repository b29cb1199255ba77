"""The live farm's scheduling board, kept up to date event by event.

decide.dispatch asks the policy (scheduling.policy) to plan on a Board.
Building one from a FarmState costs O(chunks) (core.snapshot.board_of); the
live coordinator instead keeps one board beside its state and moves it with
every event, using the Board operations the simulator uses (assign,
rendered, failed, retry, preempt), so that an event costs what it changed.

Why beside the state and not inside it: a FarmState is an immutable value
(replay compares states; every old state stays valid), while a Board is a
mutable index (heaps, counters) that the policy borrows and gives back
unchanged. Inside a frozen state, every old state would share a board that
has since moved on. So the board is derived, like a view: `follow(before,
after, event)` is a deterministic function of the two states and the event,
and the board it leaves is the one `board_of(after)` would build (tests
check that both give the same decisions after every event). decide stays
pure: it reads the board as it reads the state, and changes neither.

Events that reshape the farm (a pool starting, a sequence planned,
re-planned, finishing, set aside or retired) are rare; for them the board
is built again from the state.
"""

from __future__ import annotations

from dataclasses import replace

from orchestrator.core import events as ev
from orchestrator.core.snapshot import board_of
from orchestrator.core.state import FarmState, SequenceState
from orchestrator.core.status import ChunkStatus, SequenceStatus
from orchestrator.scheduling.board import Board
from orchestrator.scheduling.ids import AttemptKey

_CHUNK_EVENTS = (ev.ChunkStarted, ev.ChunkRendered, ev.ChunkFailed, ev.ChunkPreempted, ev.ChunkRefused)
_NOTHING_TO_SCHEDULE = (
    ev.SequenceSubmitted,
    ev.CutChecked,
    ev.FixProposed,
    ev.FixApplied,  # a grade: nothing the scheduler reads
    ev.SegmentStitched,
    ev.MasterStitched,
)


class LiveBoard:
    def __init__(self, state: FarmState):
        self.board: Board = board_of(state, own=True)
        self.rebuilds = 0
        """Times an event reshaped the farm and the board was built again (for tests and benchmarks)."""

    def follow(self, before: FarmState, after: FarmState, event: ev.Record) -> None:
        """Move the board from `before` to `after`, the state with `event` folded in."""
        if after is before:
            return  # a stale or repeated fact: nothing changed
        try:
            moved = self._step(before, after, event)
        except (KeyError, ValueError, IndexError):
            # The board and the state disagree (a case this module does not foresee): the
            # board built from state is right by definition, and tests count every rebuild.
            moved = False
        if not moved:
            self.board = board_of(after, own=True)
            self.rebuilds += 1

    def _step(self, before: FarmState, after: FarmState, event: ev.Record) -> bool:
        """Apply the event in place; False when only a rebuild will do."""
        if after.policy is not before.policy or after.nodes.keys() != before.nodes.keys():
            return False
        if isinstance(event, ev.NodeDraining | ev.ChunkRefused) and after.nodes[event.node_id].draining:
            self.board.drain(event.node_id)
            if isinstance(event, ev.NodeDraining):
                return True
        if after.runtime is not before.runtime:  # a render taught the model, whichever sequence it was for
            self.board.model = replace(after.runtime, prior=after.policy.farm.prior_seconds_per_unit)
        sid = event.sequence_id
        was, now = before.sequences.get(sid), after.sequences.get(sid)
        if was is None or now is None or sid in after.unfoldable:
            return isinstance(event, ev.SequenceSubmitted) and now is not None and sid not in after.unfoldable
        if was.status is not now.status and not _done_rendering(was, now, event):
            return False
        if len(was.chunks) != len(now.chunks):
            return False  # held chunks of a generated shot were queued (its neighbour's frame arrived)
        if isinstance(event, _CHUNK_EVENTS):
            return self._chunk(before, after, was, now, event)
        lane = self.board.lanes.get(sid)
        match event:
            case ev.ChunkQueued():
                if was.chunks[event.chunk_id] is now.chunks[event.chunk_id] or lane is None:
                    return now.status is not SequenceStatus.RENDERING or lane is not None
                if event.chunk_id not in lane.waiting_retry:
                    return False
                self.board.retry(sid, event.chunk_id)
                return True
            case ev.BudgetExceeded() | ev.SchedulingChanged():
                if lane is not None:
                    if lane.priority != now.spec.priority:
                        return False  # chunks waiting at nodes are ranked by priority for preemption
                    lane.budget, lane.paused = now.spec.budget_usd, now.over_budget is not None
                return True
            case ev.NodeForgiven():
                if lane is not None:
                    lane.failures = {n: r for (s, n), r in after.node_failures.items() if s == sid}
                return True
            case _:
                return isinstance(event, _NOTHING_TO_SCHEDULE)

    def _chunk(
        self,
        before: FarmState,
        after: FarmState,
        was: SequenceState,
        now: SequenceState,
        event: ev.ChunkStarted | ev.ChunkRendered | ev.ChunkFailed | ev.ChunkPreempted | ev.ChunkRefused,
    ) -> bool:
        board, sid, cid = self.board, event.sequence_id, event.chunk_id
        old, new = was.chunks.get(cid), now.chunks.get(cid)
        if old is None or new is None:
            return False
        lane = board.lanes.get(sid)
        key = AttemptKey.of(event)
        if lane is None and was.status is not SequenceStatus.RENDERING:
            # Not scheduled (failed, cancelled, stitching): only the node slot it holds counts.
            return self._unscheduled(before, after, event.node_id, key)
        if lane is None:
            return False
        if isinstance(event, ev.ChunkStarted):
            if cid not in lane.queued:
                return False
            return board.assign(sid, cid, event.node_id).attempt == event.attempt
        if new is old:  # fenced: a superseded attempt, which only gives its slot back
            return self._unscheduled(before, after, event.node_id, key)
        held = board.held.get((sid, cid))
        if held is None or held.attempt != event.attempt:
            return False
        match event:
            case ev.ChunkRendered():
                board.rendered(sid, cid, new.cost_usd - old.cost_usd)
                if now.status is not SequenceStatus.RENDERING:
                    del board.lanes[sid]  # all rendered: nothing of it is left to schedule
            case ev.ChunkFailed():
                board.failed(sid, cid, retry=new.status is ChunkStatus.RETRY_WAIT)
                record = after.node_failures.get((sid, event.node_id))
                if record is not None:
                    lane.failures[event.node_id] = record
            case ev.ChunkPreempted():
                board.preempt(sid, cid)
            case ev.ChunkRefused():
                board.unassign(sid, cid)  # as if never sent: its attempt number too
        return True

    def _unscheduled(self, before: FarmState, after: FarmState, node_id: str, key: AttemptKey) -> bool:
        """A slot taken or given back by an attempt the board does not schedule."""
        held_before = node_id in before.nodes and key in before.nodes[node_id].running
        held_after = node_id in after.nodes and key in after.nodes[node_id].running
        if held_before == held_after:
            return True
        scheduled = self.board.held.get((key.sequence_id, key.chunk_id))
        if scheduled is not None and scheduled.attempt == key.attempt:
            return False  # the board scheduled it as current: it and the state disagree
        if held_after:
            self.board.hold_unscheduled(node_id, key)
        else:
            self.board.let_go(node_id, key)
        return True


def _done_rendering(was: SequenceState, now: SequenceState, event: ev.Record) -> bool:
    """The chunk that renders a sequence's last frames moves it to stitching: its lane just empties."""
    return (
        isinstance(event, ev.ChunkRendered)
        and was.status is SequenceStatus.RENDERING
        and now.status is SequenceStatus.STITCHING
    )
