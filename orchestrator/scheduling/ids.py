"""What names a sequence and an attempt at a chunk, everywhere in the farm.

One definition each, so the live farm, the simulator, the API and the
store's layout can never spell them differently.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol


class _Attempted(Protocol):
    @property
    def sequence_id(self) -> str: ...

    @property
    def chunk_id(self) -> str: ...

    @property
    def attempt(self) -> int: ...


class AttemptKey(NamedTuple):
    """One attempt at one chunk: what a node holds a slot for, and what fences a late answer."""

    sequence_id: str
    chunk_id: str
    attempt: int

    @classmethod
    def of(cls, x: _Attempted) -> AttemptKey:
        """The key of an event, command or assignment about one attempt."""
        return cls(x.sequence_id, x.chunk_id, x.attempt)


def sequence_id(show: str, sequence: str) -> str:
    """`show:sequence`: the id a sequence has in the log, the API and every view."""
    return f"{show}:{sequence}"


def show_of(sequence_id: str) -> str:
    """The show a `show:sequence` id belongs to."""
    return sequence_id.split(":", 1)[0]
