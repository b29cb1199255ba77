"""What every fold shares: the table of folds by event type, and the copies that change one sequence, chunk or node slot.

Pure, as evolve: no clock, no I/O, the input state is never mutated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType
from typing import Any, TypeVar

from orchestrator.core.chunks import ChunkTable
from orchestrator.core.state import ChunkState, FarmState, NodeState, SequenceState
from orchestrator.core.status import (
    IllegalTransition,
    SequenceStatus,
    check_sequence,
)
from orchestrator.scheduling.ids import AttemptKey

K = TypeVar("K")
V = TypeVar("V")
FOLDS: dict[type, Callable[[FarmState, Any], FarmState]] = {}
"""The fold of each event type: evolve looks an event's fold up here."""


def fold(kind: type) -> Callable[[Callable[[FarmState, Any], FarmState]], Callable[[FarmState, Any], FarmState]]:
    def register(fn: Callable[[FarmState, Any], FarmState]) -> Callable[[FarmState, Any], FarmState]:
        FOLDS[kind] = fn
        return fn

    return register


S = TypeVar("S", FarmState, SequenceState, NodeState)


def changed(obj: S, **changes: Any) -> S:
    """``dataclasses.replace`` for the states changed on every chunk's start and render: a copy of
    the fields, ``changes`` over them. replace runs the class's __init__ (a frozen one sets each
    field one by one) and __post_init__, several times the copy for a state of twenty fields,
    and a chunk changes them a dozen times; so ``changes`` must already be of their fields' types."""
    new = object.__new__(type(obj))
    fields = new.__dict__
    fields.update(obj.__dict__)
    fields.update(changes)
    return new


def with_item(mapping: Any, key: K, value: V) -> MappingProxyType[Any, Any]:
    copy = dict(mapping)
    copy[key] = value
    return MappingProxyType(copy)


def sequence_of(state: FarmState, sequence_id: str) -> SequenceState:
    try:
        return state.sequences[sequence_id]
    except KeyError:
        raise IllegalTransition(f"event for unknown sequence {sequence_id}") from None


def put_sequence(state: FarmState, seq: SequenceState) -> FarmState:
    return changed(state, sequences=with_item(state.sequences, seq.sequence_id, seq))


def put_chunk(state: FarmState, seq: SequenceState, chunk: ChunkState) -> FarmState:
    return put_sequence(state, changed(seq, chunks=seq.chunks.replace(chunk)))


def release_attempt(state: FarmState, node_id: str | None, key: AttemptKey) -> FarmState:
    node = state.nodes.get(node_id) if node_id else None
    if node is None or key not in node.running:
        return state
    queue = tuple(k for k in node.queue if k != key)
    return changed(state, nodes=with_item(state.nodes, node_id, changed(node, running=node.running - {key}, queue=queue)))


def queue_released(seq: SequenceState) -> SequenceState:
    """Queue the held chunks of every shot whose neighbour frames now exist (an O(chunks) re-plan, once per such shot)."""
    ready = [shot for shot in seq.held if seq.conditioning_frames(shot) is not None]
    if not ready:
        return seq
    chunks = dict(seq.chunks.items())
    for shot in ready:
        for chunk in seq.held[shot]:
            chunks[chunk.plan.chunk_id] = chunk
    held = {shot: plans for shot, plans in seq.held.items() if shot not in ready}
    status = seq.status
    if status is SequenceStatus.STITCHING:
        status = check_sequence(seq.sequence_id, status, SequenceStatus.RENDERING)
    return replace(seq, chunks=ChunkTable.of(chunks), held=MappingProxyType(held), status=status)
