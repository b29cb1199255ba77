"""evolve(state, event) -> state: how each fact changes what the farm knows.

Pure: no clock, no I/O, the input state is never mutated. Stale results
(from an attempt that has been superseded) fold to the same state, which is
how a late answer from a node the farm gave up on is fenced off.

Each event type has one fold, in the module of the noun it changes
(orchestrator.core.folds: sequences, nodes, chunks, shots, cuts, master).
"""

from __future__ import annotations

from orchestrator.core import events as ev
from orchestrator.core.folds import FOLDS
from orchestrator.core.folds.sequences import release_slots
from orchestrator.core.state import FarmState

__all__ = ["evolve", "release_slots", "replay"]


def evolve(state: FarmState, event: ev.Event) -> FarmState:
    return FOLDS[type(event)](state, event)


def replay(events: list[ev.Event], state: FarmState | None = None) -> FarmState:
    state = state or FarmState()
    for e in events:
        state = evolve(state, e)
    return state
