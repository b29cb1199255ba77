"""evolve: how each event changes the farm's state. No Ray, no disk, no clock."""

from __future__ import annotations

import pytest

from orchestrator.core import events as ev
from orchestrator.core.evolve import evolve
from orchestrator.core.state import Policy
from orchestrator.core.status import ChunkStatus, IllegalTransition, SequenceStatus
from tests.builders import SID, failed, farm, planned, pool, rendered, started, submitted

FIRST = "sh010.1001-1004"


def test_submission_records_the_spec_and_waits_for_planning():
    state = farm(submitted())
    seq = state.sequences[SID]
    assert seq.status is SequenceStatus.SUBMITTED
    assert [s.name for s in seq.spec.shots] == ["sh010", "sh020"]


def test_submitting_the_same_sequence_twice_is_refused():
    with pytest.raises(IllegalTransition, match="already submitted"):
        farm(submitted(), submitted())


def test_planning_queues_every_chunk_at_version_one():
    seq = farm(submitted(), planned()).sequences[SID]
    assert seq.status is SequenceStatus.RENDERING
    assert {c.status for c in seq.chunks.values()} == {ChunkStatus.QUEUED}
    assert {c.version for c in seq.chunks.values()} == {1}
    assert seq.frames_total == 12


def test_a_started_chunk_occupies_a_slot_on_its_node():
    state = farm(pool("cpu-0", slots=2), submitted(), planned(), started(FIRST))
    assert state.sequences[SID].chunks[FIRST].status is ChunkStatus.RUNNING
    assert state.nodes["cpu-0"].running == {(SID, FIRST, 1)}
    assert state.nodes["cpu-0"].free == 1


def test_rendered_chunk_records_frames_cost_and_frees_the_slot():
    state = farm(pool(), submitted(), planned(), started(FIRST))
    state = evolve(state, rendered(state, FIRST))
    chunk = state.sequences[SID].chunks[FIRST]
    assert chunk.status is ChunkStatus.RENDERED
    assert [f.frame for f in chunk.frames] == [1001, 1002, 1003, 1004]
    assert chunk.cost_usd == pytest.approx(0.001)
    assert state.nodes["cpu-0"].free == 1


def test_a_result_from_a_superseded_attempt_changes_nothing():
    state = farm(pool(), submitted(), planned(), started(FIRST), failed(FIRST), )
    state = evolve(state, ev.ChunkQueued(at=4, sequence_id=SID, chunk_id=FIRST, reason="retry"))
    state = evolve(state, started(FIRST, attempt=2))
    late = rendered(state, FIRST, attempt=1)
    after = evolve(state, late)
    assert after.sequences == state.sequences


def test_a_superseded_attempt_holds_its_slot_until_its_node_answers():
    state = farm(pool("cpu-0", slots=2), submitted(), planned(), started(FIRST))
    state = evolve(state, ev.PoolStarted(at=3, sequence_id=ev.FARM, nodes=(ev.NodeInfo(node_id="cpu-0", gpu_class="cpu", slots=2),)))
    state = evolve(state, started(FIRST, attempt=2))
    state = evolve(state, failed(FIRST, attempt=1))
    assert state.nodes["cpu-0"].running == {(SID, FIRST, 2)}
    assert state.sequences[SID].chunks[FIRST].status is ChunkStatus.RUNNING


def test_starting_an_attempt_out_of_order_is_illegal():
    with pytest.raises(IllegalTransition, match="attempt 3 follows attempt 0"):
        farm(pool(), submitted(), planned(), started(FIRST, attempt=3))


def test_starting_a_rendered_chunk_again_is_illegal():
    state = farm(pool(), submitted(), planned(), started(FIRST))
    state = evolve(state, rendered(state, FIRST))
    with pytest.raises(IllegalTransition, match="rendered -> running"):
        evolve(state, started(FIRST, attempt=2))


@pytest.mark.parametrize(
    ("attempt", "retryable", "expected"),
    [
        (1, True, ChunkStatus.RETRY_WAIT),
        (2, True, ChunkStatus.RETRY_WAIT),
        (3, True, ChunkStatus.FAILED),
        (1, False, ChunkStatus.FAILED),
    ],
)
def test_failure_waits_for_retry_until_attempts_run_out_or_the_error_is_permanent(attempt, retryable, expected):
    events = [pool(), submitted(), planned()]
    for a in range(1, attempt):
        events += [started(FIRST, attempt=a), failed(FIRST, attempt=a)]
        events.append(ev.ChunkQueued(at=4, sequence_id=SID, chunk_id=FIRST, reason="retry"))
    events += [started(FIRST, attempt=attempt), failed(FIRST, attempt=attempt, retryable=retryable)]
    state = farm(*events, policy=Policy(max_attempts=3))
    assert state.sequences[SID].chunks[FIRST].status is expected


def test_a_restart_returns_running_and_retry_waiting_chunks_to_the_queue():
    state = farm(pool("cpu-0", "cpu-1"), submitted(), planned(), started(FIRST), started("sh010.1005-1008", "cpu-1"))
    state = evolve(state, failed("sh010.1005-1008", node="cpu-1"))
    state = evolve(state, pool("cpu-9"))
    chunks = state.sequences[SID].chunks
    assert chunks[FIRST].status is ChunkStatus.QUEUED
    assert chunks["sh010.1005-1008"].status is ChunkStatus.QUEUED
    assert list(state.nodes) == ["cpu-9"] and state.nodes["cpu-9"].free == 1


def test_the_last_rendered_chunk_moves_the_sequence_to_stitching():
    state = farm(pool(), submitted(), planned())
    for cid in list(state.sequences[SID].chunks):
        state = evolve(state, started(cid))
        state = evolve(state, rendered(state, cid))
    assert state.sequences[SID].status is SequenceStatus.STITCHING
    assert state.sequences[SID].frames_rendered == 12


def test_a_master_cannot_be_stitched_while_chunks_are_still_rendering():
    state = farm(pool(), submitted(), planned())
    stitched = ev.MasterStitched(
        at=9,
        sequence_id=SID,
        frames=(),
        contact_sheet=ev.FrameRecord(frame=0, key="k", digest="d"),
        range={"first": 1001, "last": 1012},
    )
    with pytest.raises(IllegalTransition, match="while rendering"):
        evolve(state, stitched)


def test_a_finished_sequence_cannot_be_failed_afterwards():
    state = farm(pool(), submitted(), planned(), ev.SequenceCancelled(at=5, sequence_id=SID))
    with pytest.raises(IllegalTransition, match="cancelled -> failed"):
        evolve(state, ev.SequenceFailed(at=6, sequence_id=SID, reason="x"))


def test_events_for_an_unknown_sequence_are_refused():
    with pytest.raises(IllegalTransition, match="unknown sequence"):
        farm(pool(), planned())


def test_evolve_never_mutates_the_state_it_is_given():
    before = farm(pool(), submitted(), planned())
    snapshot = (dict(before.sequences[SID].chunks), dict(before.nodes))
    evolve(before, started(FIRST))
    assert (dict(before.sequences[SID].chunks), dict(before.nodes)) == snapshot
