"""Lifecycle states and the transitions allowed between them.

An event that would make an illegal transition is a bug or a corrupt log,
so evolve refuses it loudly instead of overwriting state.
"""

from __future__ import annotations

from enum import Enum


class IllegalTransition(ValueError):
    pass


class ChunkStatus(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    RENDERED = "rendered"
    RETRY_WAIT = "retry-wait"
    FAILED = "failed"


class CutStatus(str, Enum):
    PENDING = "pending"
    OK = "ok"
    FIXING = "fixing"
    """A fix was proposed; the cut is checked again once it has taken effect."""
    FIXED = "fixed"
    REVIEW = "review"
    """Problems remain that the farm will not fix on its own; a person decides."""


class SequenceStatus(str, Enum):
    SUBMITTED = "submitted"
    RENDERING = "rendering"
    STITCHING = "stitching"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


CHUNK_TRANSITIONS: dict[ChunkStatus, frozenset[ChunkStatus]] = {
    ChunkStatus.QUEUED: frozenset({ChunkStatus.RUNNING}),
    # RUNNING -> QUEUED: the node that held it is gone (a restart, a lost node), or refused it (its machine drains).
    ChunkStatus.RUNNING: frozenset(
        {ChunkStatus.RENDERED, ChunkStatus.RETRY_WAIT, ChunkStatus.FAILED, ChunkStatus.QUEUED}
    ),
    ChunkStatus.RETRY_WAIT: frozenset({ChunkStatus.QUEUED}),
    # RENDERED -> QUEUED: its stored frames were found missing or altered.
    ChunkStatus.RENDERED: frozenset({ChunkStatus.QUEUED}),
    ChunkStatus.FAILED: frozenset(),
}

SEQUENCE_TRANSITIONS: dict[SequenceStatus, frozenset[SequenceStatus]] = {
    SequenceStatus.SUBMITTED: frozenset(
        {SequenceStatus.RENDERING, SequenceStatus.FAILED, SequenceStatus.CANCELLED}
    ),
    SequenceStatus.RENDERING: frozenset(
        {SequenceStatus.STITCHING, SequenceStatus.FAILED, SequenceStatus.CANCELLED}
    ),
    # STITCHING -> RENDERING: a source frame went bad and its chunk renders again.
    SequenceStatus.STITCHING: frozenset(
        {SequenceStatus.RENDERING, SequenceStatus.COMPLETED, SequenceStatus.FAILED, SequenceStatus.CANCELLED}
    ),
    # COMPLETED -> RENDERING: a person asked for a shot to be rendered again.
    SequenceStatus.COMPLETED: frozenset({SequenceStatus.RENDERING}),
    SequenceStatus.FAILED: frozenset(),
    SequenceStatus.CANCELLED: frozenset(),
}


def check_chunk(chunk_id: str, old: ChunkStatus, new: ChunkStatus) -> ChunkStatus:
    if new not in CHUNK_TRANSITIONS[old]:
        raise IllegalTransition(f"chunk {chunk_id}: {old.value} -> {new.value} is not allowed")
    return new


def check_sequence(sequence_id: str, old: SequenceStatus, new: SequenceStatus) -> SequenceStatus:
    if new not in SEQUENCE_TRANSITIONS[old]:
        raise IllegalTransition(f"sequence {sequence_id}: {old.value} -> {new.value} is not allowed")
    return new
