"""What `decide` asks the coordinator to do. Commands are intentions, not facts:
the coordinator records the resulting event before it acts on any of them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    sequence_id: str


@dataclass(frozen=True)
class Dispatch:
    sequence_id: str
    chunk_id: str
    node_id: str
    attempt: int


@dataclass(frozen=True)
class RetryLater:
    sequence_id: str
    chunk_id: str
    delay: float


@dataclass(frozen=True)
class CheckCut:
    sequence_id: str
    cut: str


@dataclass(frozen=True)
class ApplyFix:
    sequence_id: str
    cut: str
    rule: str
    fix: object
    """A pipelines.continuity.findings Grade or Requeue."""


@dataclass(frozen=True)
class StitchSegment:
    sequence_id: str
    segment: str


@dataclass(frozen=True)
class Deliver:
    """Make the deliverables (contact sheet, HDR10, SDR) from the current segments."""

    sequence_id: str


@dataclass(frozen=True)
class Finish:
    sequence_id: str


@dataclass(frozen=True)
class Fail:
    sequence_id: str
    reason: str


@dataclass(frozen=True)
class Preempt:
    """Take back an attempt waiting at its node (record ChunkPreempted, then cancel the call)."""

    sequence_id: str
    chunk_id: str
    node_id: str
    attempt: int
    reason: str


@dataclass(frozen=True)
class ExceedBudget:
    """Record BudgetExceeded: the sequence's dispatch pauses."""

    sequence_id: str
    projected_usd: float
    budget_usd: float


@dataclass(frozen=True)
class Forgive:
    """After `delay` seconds, record NodeForgiven for a node blocked for the sequence."""

    sequence_id: str
    node_id: str
    delay: float


Command = (
    Plan | Dispatch | RetryLater | CheckCut | ApplyFix | StitchSegment | Deliver | Finish | Fail
    | Preempt | ExceedBudget | Forgive
)  # fmt: skip
