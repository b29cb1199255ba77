"""The farm's state: a projection of the event log, rebuilt by replaying it.

Plain frozen dataclasses. Nothing here is ever stored; if a field cannot be
recomputed from events it does not belong here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from orchestrator.core.events import FrameRecord, MasterStitched, SegmentStitched
from orchestrator.core.status import ChunkStatus, SequenceStatus
from pipelines.chunking import ChunkPlan
from pipelines.color.cdl import CDL
from pipelines.master.segments import Segment, fingerprint
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
    running: frozenset[tuple[str, str, int]] = frozenset()
    """(sequence_id, chunk_id, attempt) this node holds now; a superseded attempt
    still holds its slot until its node answers."""

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
    segment_plan: tuple[Segment, ...] = ()
    """The master's segments, fixed at submission (frame ranges never change after)."""
    grades: Mapping[str, tuple[CDL, ...]] = field(default_factory=_empty)
    """The grades each shot goes into the master with, applied in order."""
    segments: Mapping[str, SegmentStitched] = field(default_factory=_empty)
    master: MasterStitched | None = None
    finished_at: float | None = None
    reason: str | None = None

    def chunks_in(self, *statuses: ChunkStatus) -> list[ChunkState]:
        return [c for c in self.chunks.values() if c.status in statuses]

    def shot_final(self, shot: str) -> bool:
        """Every chunk of the shot's current version is rendered."""
        mine = [c for c in self.chunks.values() if c.plan.shot == shot]
        return bool(mine) and all(c.status is ChunkStatus.RENDERED for c in mine)

    def fingerprint(self, segment: Segment) -> str:
        grades = {shot: " ".join(c.as_asc_sop() for c in chain) for shot, chain in self.grades.items()}
        return fingerprint(segment, dict(self.versions), grades)

    def segment_current(self, segment: Segment) -> bool:
        done = self.segments.get(segment.name)
        return done is not None and done.fingerprint == self.fingerprint(segment)

    def segments_to_stitch(self, shots: set[str] | None = None) -> list[Segment]:
        """Segments whose shots are final but which were not built from them yet.

        With `shots`, only segments that use one of those shots (gaps included
        when None).
        """
        return [
            seg
            for seg in self.segment_plan
            if (shots is None or shots & set(seg.shots))
            and all(self.shot_final(s) for s in seg.shots)
            and not self.segment_current(seg)
        ]

    @property
    def ready_to_deliver(self) -> bool:
        return self.all_rendered and all(self.segment_current(seg) for seg in self.segment_plan)

    def chunk_holding(self, shot: str, frame: int) -> ChunkState | None:
        for c in self.chunks.values():
            if c.plan.shot == shot and c.plan.frames.first <= frame <= c.plan.frames.last:
                return c
        return None

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
