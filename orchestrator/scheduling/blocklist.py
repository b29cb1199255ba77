"""The blocklist: a node that keeps failing a sequence's chunks stops getting them.

Flamenco blocks a worker per (job, task type) after repeated failures;
Afanasy forgives a host's errors some time after the last one. Here a node
is blocked for a sequence once it failed `block_after` of its chunks, and
forgiven `forgive_after` seconds after the last of those failures (a new
failure after that starts the count again). Pure: failures are folded from
ChunkFailed events and judged against the `now` the caller passes.
"""

from __future__ import annotations

Record = tuple[int, float]
"""(failures counted, time of the last one)."""


# A timer set for `last + forgive_after` fires at that sum; computed another way
# it can come out a hair short, and a forgiveness that just missed would be
# asked for again at the same instant for ever.
_EPSILON = 1e-6


def expired(record: Record, now: float, forgive_after: float) -> bool:
    """Whether the record's failures are forgiven by `now`."""
    return now >= record[1] + forgive_after - _EPSILON


def count_failure(previous: Record | None, at: float, forgive_after: float) -> Record:
    """Fold one failure of a sequence's chunk on a node."""
    if previous is None or expired(previous, at, forgive_after):
        return (1, at)
    return (previous[0] + 1, max(at, previous[1]))


def blocked(record: Record | None, now: float, block_after: int, forgive_after: float) -> bool:
    return record is not None and record[0] >= block_after and not expired(record, now, forgive_after)


def forgiven_at(record: Record, forgive_after: float) -> float:
    """When a blocked node may take the sequence's chunks again."""
    return record[1] + forgive_after
