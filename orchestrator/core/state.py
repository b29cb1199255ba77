"""The farm's state: a projection of the event log, rebuilt by replaying it.

Plain frozen dataclasses. Nothing here is ever stored; if a field cannot be
recomputed from events it does not belong here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from orchestrator.core.chunks import ChunkTable
from orchestrator.core.events import FrameRecord, MasterStitched, SegmentStitched, TakeChosen
from orchestrator.core.status import ChunkStatus, CutStatus, SequenceStatus
from orchestrator.scheduling.farm import FarmConfig
from orchestrator.scheduling.ids import AttemptKey
from orchestrator.scheduling.runtime import RuntimeModel
from pipelines.chunking import ChunkPlan, take_chunk_id
from pipelines.color.cdl import CDL
from pipelines.continuity.findings import Finding
from pipelines.master.segments import Segment, fingerprint
from pipelines.spec.sequence import Sequence


def _empty() -> Mapping[Any, Any]:
    return MappingProxyType({})


def _no_chunks() -> ChunkTable[ChunkState]:
    return ChunkTable.of({})



@dataclass(frozen=True)
class Policy:
    """The knobs `decide` reads. Part of state so that decide stays a pure function of it."""

    max_attempts: int = 3
    """Render attempts per chunk before the sequence fails (transient errors only)."""
    backoff_base: float = 2.0
    """Seconds before the first retry; doubles each attempt so a flapping node is not hammered."""
    backoff_max: float = 60.0
    max_fix_attempts: int = 2
    """Continuity fix rounds per cut before its remaining findings go to a person."""
    farm: FarmConfig = field(default_factory=FarmConfig.local)
    """Node classes (speed, price, what they can run) and show subscriptions the scheduler plans with."""
    engine: str = "pathtracer"
    """The engine every chunk renders with: part of what the runtime model learns durations for."""


@dataclass(frozen=True, slots=True)  # slots: a sequence may hold 100,000 of them
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
    running: frozenset[AttemptKey] = frozenset()
    """(sequence_id, chunk_id, attempt) this node holds now; a superseded attempt
    still holds its slot until its node answers."""
    queue: tuple[AttemptKey, ...] = ()
    """The same keys in the order the node was sent them: the first renders, the rest wait at the node."""
    draining: bool = False
    """Its machine is being stopped (NodeDraining): it takes no new chunk while it runs there."""

    @property
    def free(self) -> int:
        return 0 if self.draining else self.slots - len(self.running)


@dataclass(frozen=True)
class CutState:
    name: str
    left: str
    right: str
    status: CutStatus = CutStatus.PENDING
    fingerprint: str | None = None
    """What the last check saw; a verdict holds only while the shots still match it."""
    findings: tuple[Finding, ...] = ()
    attempts: int = 0
    """Fix rounds proposed so far."""
    reports: tuple[str, ...] = ()
    """Store keys of every check's report row, first to last."""
    fixes: tuple[str, ...] = ()
    """What was done, in order, e.g. 'exposure: grade', 'axis_180: requeue'."""


@dataclass(frozen=True)
class SequenceState:
    sequence_id: str
    spec: Sequence
    spec_digest: str
    submitted_at: float
    status: SequenceStatus = SequenceStatus.SUBMITTED
    versions: Mapping[str, int] = field(default_factory=_empty)
    chunks: ChunkTable[ChunkState] = field(default_factory=_no_chunks)
    """In plan order, with the counts progress and decisions read (core.chunks); a plain
    mapping given here becomes a table."""
    segment_plan: tuple[Segment, ...] = ()
    """The master's segments, fixed at submission (frame ranges never change after)."""
    cuts: Mapping[str, CutState] = field(default_factory=_empty)
    segments: Mapping[str, SegmentStitched] = field(default_factory=_empty)
    master: MasterStitched | None = None
    retired_node_seconds: float = 0.0
    retired_cost_usd: float = 0.0
    """What shot versions replaced by a re-render cost: spent all the same."""
    finished_at: float | None = None
    reason: str | None = None
    over_budget: float | None = None
    """Projected USD a BudgetExceeded recorded; dispatch for the sequence is paused while set."""
    held: Mapping[str, tuple[ChunkState, ...]] = field(default_factory=_empty)
    """Chunks of generated shots planned at their current version but not queued yet: each waits
    for a neighbour's frame it is generated from (Sequence.conditioning)."""
    chosen: Mapping[str, TakeChosen] = field(default_factory=_empty)
    """The last take chosen for each shot generated as several takes (current while its fingerprint holds)."""

    def __post_init__(self) -> None:
        if not isinstance(self.chunks, ChunkTable):
            object.__setattr__(self, "chunks", ChunkTable.of(self.chunks))

    def chunks_in(self, *statuses: ChunkStatus) -> list[ChunkState]:
        return [c for c in self.chunks.values() if c.status in statuses]

    def grades(self, shot: str) -> tuple[CDL, ...]:
        """What the shot is mastered with (its spec's grade, which grade fixes replace)."""
        grade = self.spec.shot(shot).grade
        return (grade,) if grade is not None else ()

    def _grade_text(self, shot: str) -> str:
        return " ".join(c.as_asc_sop() for c in self.grades(shot)) or "none"

    def shot_rendered(self, shot: str) -> bool:
        """Every chunk of its current version rendered, and for a shot of several takes, one chosen."""
        if shot in self.held or not self.chunks.shot_rendered(shot):
            return False
        return not self.has_takes(shot) or self.take_current(shot)

    # -- generated shots: neighbour frames and takes --

    def has_takes(self, shot: str) -> bool:
        return shot in self.spec.generated_shots and self.spec.takes(self.spec.shot(shot)) > 1

    def conditioning_frames(self, shot: str) -> dict[str, FrameRecord] | None:
        """option -> the neighbour's frame the shot is generated from; None while one of them is missing."""
        out: dict[str, FrameRecord] = {}
        if shot not in self.spec.generated_shots:
            return out
        for option, (neighbour, frame) in self.spec.conditioning(self.spec.shot(shot)).items():
            record = self.frame_record(neighbour, frame)
            if record is None:
                return None
            out[option] = record
        return out

    def waiting_for_neighbours(self) -> dict[str, str]:
        """shot -> why its held chunks wait, for each shot whose chunks are held."""
        out = {}
        for shot in self.held:
            missing = [
                f"{neighbour}'s frame {frame}"
                for neighbour, frame in self.spec.conditioning(self.spec.shot(shot)).values()
                if self.frame_record(neighbour, frame) is None
            ]
            out[shot] = f"generated from {' and '.join(missing) or 'neighbour frames'}, not rendered yet"
        return out

    def take_neighbours(self, shot: str) -> tuple[str | None, str | None]:
        """The shots before and after whose boundary frames the takes are judged against.

        Not a neighbour that is generated from this shot's frames (it waits for
        the choice), nor a following shot of several takes (its own choice is
        judged against this one's, left to right).
        """
        before, after = self.spec.beside(shot)
        dependents = self.spec.conditioned_on(shot)
        left = before.name if before is not None and before.name not in dependents else None
        right = after.name if after is not None and after.name not in dependents and not self.has_takes(after.name) else None
        return left, right

    def take_fingerprint(self, shot: str) -> str:
        """What a take choice holds for: the shot's version and its left neighbour's (cuts settle left to right)."""
        left, _ = self.take_neighbours(shot)
        parts = [f"{shot}:{self.versions.get(shot, 0)}"]
        if left is not None:
            parts.append(f"{left}:{self.versions.get(left, 0)}")
        return "|".join(parts)

    def take_current(self, shot: str) -> bool:
        choice = self.chosen.get(shot)
        return choice is not None and choice.fingerprint == self.take_fingerprint(shot)

    def takes_to_choose(self, shots: set[str] | None = None) -> list[str]:
        """Shots of several takes, all rendered, without a current choice, whose neighbours' boundary frames exist."""
        out = []
        for shot in self.versions if shots is None else shots:
            if not self.has_takes(shot) or shot in self.held or self.take_current(shot):
                continue
            if not self.chunks.shot_rendered(shot):
                continue
            left, right = self.take_neighbours(shot)
            spec = self.spec
            if left is not None and self.frame_record(left, spec.shot(left).frames.last) is None:
                continue
            if right is not None and self.frame_record(right, spec.shot(right).frames.first) is None:
                continue
            out.append(shot)
        return out

    def take_chunks(self, shot: str) -> list[ChunkState]:
        """The take chunks of a shot at its current version, take 1 first."""
        frames = self.spec.shot(shot).render_range
        return [self.chunks[take_chunk_id(shot, k, frames)] for k in range(1, self.spec.takes(self.spec.shot(shot)) + 1)]

    def shot_final(self, shot: str) -> bool:
        """Rendered at its current version, and every cut it is part of has a verdict."""
        return self.shot_rendered(shot) and all(
            self.cut_done(c) for c in self.cuts.values() if shot in (c.left, c.right)
        )

    def cut_fingerprint(self, cut: CutState) -> str:
        parts = [f"{s}:{self.versions.get(s, 0)}:{self._grade_text(s)}" for s in (cut.left, cut.right)]
        return "|".join(parts)

    def cut_done(self, cut: CutState) -> bool:
        settled = cut.status in (CutStatus.OK, CutStatus.FIXED, CutStatus.REVIEW)
        return settled and cut.fingerprint == self.cut_fingerprint(cut)

    def boundary(self, cut: CutState) -> tuple[int, int]:
        """The two frames a cut is judged on: the left shot's last cut frame, the right's first."""
        return self.spec.shot(cut.left).frames.last, self.spec.shot(cut.right).frames.first

    def frame_record(self, shot: str, frame: int) -> FrameRecord | None:
        chunk = self.chunk_holding(shot, frame)
        if chunk is None or chunk.status is not ChunkStatus.RENDERED:
            return None
        return next((f for f in chunk.frames if f.frame == frame), None)

    def cuts_to_check(self, shots: set[str] | None = None) -> list[CutState]:
        """Cuts (touching `shots`, or all) whose boundary frames exist and that lack a current verdict.

        Cuts settle left to right: a cut waits for the verdict on the cut
        before it, because fixes always change the right-hand shot, and a fix
        judged against a left shot that is about to be re-rendered (its camera
        mirrored, its lights matched) would be judged against the wrong shot.
        """
        out = []
        previous: dict[str, CutState] = {c.right: c for c in self.cuts.values()}
        for cut in self.cuts.values():
            if shots is not None and not shots & {cut.left, cut.right}:
                continue
            if self.cut_done(cut):
                continue
            before = previous.get(cut.left)
            if before is not None and not self.cut_done(before):
                continue
            left, right = self.boundary(cut)
            if self.frame_record(cut.left, left) and self.frame_record(cut.right, right):
                out.append(cut)
        return out

    def fingerprint(self, segment: Segment) -> str:
        grades = {shot: self._grade_text(shot) for shot in segment.shots}
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
        return (
            self.all_rendered
            and all(self.cut_done(c) for c in self.cuts.values())
            and all(self.segment_current(seg) for seg in self.segment_plan)
        )

    def chunk_holding(self, shot: str, frame: int) -> ChunkState | None:
        """The chunk whose frames are the shot's frame: for a shot of several takes, the chosen take's."""
        if not self.has_takes(shot):
            return self.chunks.holding(shot, frame)
        choice = self.chosen.get(shot)
        if choice is None or not self.take_current(shot):
            return None
        chunk = self.chunks.get(take_chunk_id(shot, choice.take, self.spec.shot(shot).render_range))
        return chunk if chunk is not None and chunk.plan.frames.first <= frame <= chunk.plan.frames.last else None

    @property
    def all_rendered(self) -> bool:
        return not self.held and bool(self.chunks) and self.chunks.count(ChunkStatus.RENDERED) == len(self.chunks)

    @property
    def frames_total(self) -> int:
        return self.chunks.frames_total + sum(len(c.plan.frames) for waiting in self.held.values() for c in waiting)

    @property
    def frames_rendered(self) -> int:
        return self.chunks.frames_rendered

    @property
    def node_seconds(self) -> float:
        return self.retired_node_seconds + self.chunks.node_seconds

    @property
    def cost_usd(self) -> float:
        return self.retired_cost_usd + self.chunks.cost_usd


@dataclass(frozen=True)
class Unfoldable:
    """A record the farm could not fold, and so the first record of its sequence that replay skips."""

    sequence_id: str
    seq: int
    """Its position in the log."""
    record_type: str
    reason: str

    def __str__(self) -> str:
        return f"record {self.seq} ({self.record_type}) cannot be folded: {self.reason}"


@dataclass(frozen=True)
class FarmState:
    policy: Policy = field(default_factory=Policy)
    sequences: Mapping[str, SequenceState] = field(default_factory=_empty)
    nodes: Mapping[str, NodeState] = field(default_factory=_empty)
    last_seq: int = 0
    """Log position of the last event folded in (0 = empty log)."""
    runtime: RuntimeModel = field(default_factory=RuntimeModel)
    """Seconds per cost unit learned from every accepted render (scheduling.runtime)."""
    node_failures: Mapping[tuple[str, str], tuple[int, float]] = field(default_factory=_empty)
    """(sequence_id, node_id) -> (failures, time of the last): the blocklist (scheduling.blocklist)."""
    unfoldable: Mapping[str, Unfoldable] = field(default_factory=_empty)
    """Sequences set aside at a record that could not be folded (core.isolation); the rest of the farm goes on."""
