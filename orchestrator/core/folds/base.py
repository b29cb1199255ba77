"""What every fold shares: the table of folds by event type, and the copies that change one sequence, chunk or node slot.

Pure, as evolve: no clock, no I/O, the input state is never mutated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType
from typing import Any, TypeVar

from orchestrator.core.chunks import ChunkTable
from orchestrator.core.state import ChunkState, FarmState, SequenceState
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
    return replace(state, sequences=with_item(state.sequences, seq.sequence_id, seq))


def put_chunk(state: FarmState, seq: SequenceState, chunk: ChunkState) -> FarmState:
    return put_sequence(state, replace(seq, chunks=seq.chunks.replace(chunk)))


def release_attempt(state: FarmState, node_id: str | None, key: AttemptKey) -> FarmState:
    node = state.nodes.get(node_id) if node_id else None
    if node is None or key not in node.running:
        return state
    queue = tuple(k for k in node.queue if k != key)
    return replace(state, nodes=with_item(state.nodes, node_id, replace(node, running=node.running - {key}, queue=queue)))


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
