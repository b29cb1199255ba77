"""What `decide` asks the coordinator to do. Commands are intentions, not facts:
the coordinator records the resulting event before it acts on any of them."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.core import events as ev
from orchestrator.scheduling.ids import AttemptKey


@dataclass(frozen=True)
class Plan:
    sequence_id: str


@dataclass(frozen=True)
class _AttemptAtNode:
    sequence_id: str
    chunk_id: str
    node_id: str
    attempt: int

    @property
    def key(self) -> AttemptKey:
        """The attempt, as a node's queue names it: Dispatch starts it, Preempt takes it back."""
        return AttemptKey.of(self)


@dataclass(frozen=True)
class Dispatch(_AttemptAtNode):
    def started(self, at: float, gpu_class: str) -> ev.ChunkStarted:
        """What is recorded before the chunk is sent."""
        return ev.ChunkStarted(
            at=at,
            sequence_id=self.sequence_id,
            chunk_id=self.chunk_id,
            attempt=self.attempt,
            node_id=self.node_id,
            gpu_class=gpu_class,
        )


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
class Preempt(_AttemptAtNode):
    """Take back an attempt waiting at its node (record ChunkPreempted, then cancel the call)."""

    reason: str

    def preempted(self, at: float) -> ev.ChunkPreempted:
        return ev.ChunkPreempted(
            at=at,
            sequence_id=self.sequence_id,
            chunk_id=self.chunk_id,
            attempt=self.attempt,
            node_id=self.node_id,
            reason=self.reason,
        )


@dataclass(frozen=True)
class ExceedBudget:
    """Record BudgetExceeded: the sequence's dispatch pauses."""

    sequence_id: str
    projected_usd: float
    budget_usd: float

    def exceeded(self, at: float) -> ev.BudgetExceeded:
        return ev.BudgetExceeded(
            at=at, sequence_id=self.sequence_id, projected_usd=self.projected_usd, budget_usd=self.budget_usd
        )


@dataclass(frozen=True)
class Forgive:
    """After `delay` seconds, record NodeForgiven for a node blocked for the sequence."""

    sequence_id: str
    node_id: str
    delay: float



@dataclass(frozen=True)
class ChooseTake:
    """Score every take of a generated shot against its neighbours and record the best (TakeChosen)."""

    sequence_id: str
    shot: str


@dataclass(frozen=True)
class Regenerate:
    """Record a new version of a generated shot whose conditioning frame changed (ShotRequeued)."""

    sequence_id: str
    shot: str
    reason: str


Command = (
    Plan | Dispatch | RetryLater | CheckCut | ApplyFix | StitchSegment | Deliver | Finish | Fail
    | Preempt | ExceedBudget | Forgive | ChooseTake | Regenerate
)  # fmt: skip
