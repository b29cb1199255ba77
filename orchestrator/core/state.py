"""The farm's state: a projection of the event log, rebuilt by replaying it.

Plain frozen dataclasses. Nothing here is ever stored; if a field cannot be
recomputed from events it does not belong here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from orchestrator.core.events import FrameRecord, MasterStitched
from orchestrator.core.status import ChunkStatus, SequenceStatus
from pipelines.chunking import ChunkPlan
from pipelines.spec.sequence import Sequence



def _empty() -> Mapping:
    return MappingProxyType({})



@dataclass(frozen=True)
class Policy:
    """The knobs `decide` reads. Part of state so that decide stays a pure function of it."""

    max_attempts: int = 3
    """Render attempts per chunk before the sequence fails (transient errors only)."""
    backoff_base: float = 2.0
    """Seconds before the first retry; doubles each attempt so a flapping node is not hammered."""
    backoff_max: float = 60.0


@dataclass(frozen=True)
class ChunkState:
    plan: ChunkPlan
    version: int
    status: ChunkStatus = ChunkStatus.QUEUED
    attempt: int = 0
    """The attempt now running or last run; results from any other attempt are stale."""
    node_id: str | None = None
    frames: tuple[FrameRecord, ...] = ()
    node_seconds: float = 0.0
    cost_usd: float = 0.0
    failures: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeState:
    node_id: str
    gpu_class: str
    slots: int
    running: frozenset[tuple[str, str]] = frozenset()
    """(sequence_id, chunk_id) pairs this node holds now."""

    @property
    def free(self) -> int:
        return self.slots - len(self.running)


@dataclass(frozen=True)
class SequenceState:
    sequence_id: str
    spec: Sequence
    spec_digest: str
    submitted_at: float
    status: SequenceStatus = SequenceStatus.SUBMITTED
    versions: Mapping[str, int] = field(default_factory=_empty)
    chunks: Mapping[str, ChunkState] = field(default_factory=_empty)
    master: MasterStitched | None = None
    finished_at: float | None = None
    reason: str | None = None

    def chunks_in(self, *statuses: ChunkStatus) -> list[ChunkState]:
        return [c for c in self.chunks.values() if c.status in statuses]

    @property
    def all_rendered(self) -> bool:
        return bool(self.chunks) and all(c.status is ChunkStatus.RENDERED for c in self.chunks.values())

    @property
    def frames_total(self) -> int:
        return sum(len(c.plan.frames) for c in self.chunks.values())

    @property
    def frames_rendered(self) -> int:
        return sum(len(c.frames) for c in self.chunks.values() if c.status is ChunkStatus.RENDERED)

    @property
    def node_seconds(self) -> float:
        return sum(c.node_seconds for c in self.chunks.values())

    @property
    def cost_usd(self) -> float:
        return sum(c.cost_usd for c in self.chunks.values())


@dataclass(frozen=True)
class FarmState:
    policy: Policy = field(default_factory=Policy)
    sequences: Mapping[str, SequenceState] = field(default_factory=_empty)
    nodes: Mapping[str, NodeState] = field(default_factory=_empty)
    last_seq: int = 0
    """Log position of the last event folded in (0 = empty log)."""
