"""The event vocabulary: everything that ever happens to a sequence.

The log of these events is the farm's only source of truth; state, metrics,
cost and every view are folds over it. Events are facts in the past tense,
frozen, versioned (`v`) and carry their own time (`at`), so folding them
needs no clock. Add fields with defaults; never change a field's meaning.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from pipelines.chunking import ChunkPlan
from pipelines.color.cdl import CDL
from pipelines.continuity.findings import Finding, Fix, TakeScore
from pipelines.spec.sequence import FrameRange


class _Event(BaseModel):
    # No NaN or infinity: JSON has neither, so one would be logged as null and
    # the record could never be folded again. Refused here, before it is written.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    v: int = 1
    at: float = Field(description="Seconds since the epoch when the event was recorded.")
    sequence_id: str


class FrameRecord(BaseModel):
    """One stored frame: where it is and what its bytes hash to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    frame: int
    key: str
    digest: str


class NodeInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    node_id: str
    gpu_class: str
    slots: int = Field(ge=1, description="Chunks the node may hold at once (one rendering, the rest queued).")


class SequenceSubmitted(_Event):
    type: Literal["SequenceSubmitted"] = "SequenceSubmitted"
    spec: dict[str, Any] = Field(description="The Sequence spec as JSON.")
    spec_digest: str


class ShotsPlanned(_Event):
    """The sequence was split; every chunk listed is queued."""

    type: Literal["ShotsPlanned"] = "ShotsPlanned"
    versions: dict[str, int] = Field(description="Shot name -> render version.")
    chunks: tuple[ChunkPlan, ...]


class PoolStarted(_Event):
    """A coordinator came up with these nodes; work held by earlier nodes is abandoned.

    Recorded at every start, including a resume after a crash: anything that
    was running then has no node now and goes back to the queue.
    """

    type: Literal["PoolStarted"] = "PoolStarted"
    nodes: tuple[NodeInfo, ...]


class NodeJoined(_Event):
    """A render node came up after its pool started (its worker joined the Ray cluster mid-run).

    It takes work from now on. Unlike PoolStarted it abandons nothing: the
    nodes already up keep what they hold.
    """

    type: Literal["NodeJoined"] = "NodeJoined"
    node: NodeInfo


class NodeDraining(_Event):
    """A render node's machine is being stopped (a pod in its preStop wait): the node takes no new chunk.

    Recorded after the ChunkRefused of the node's first refusal (nodes.errors.Draining),
    which already keeps the chunks away from it. What it renders finishes; what
    waits at it otherwise is taken back. A render node that
    comes back on another machine joins again (NodeJoined); a coordinator
    that restarts starts its nodes anew (PoolStarted).
    """

    type: Literal["NodeDraining"] = "NodeDraining"
    node_id: str


class ChunkRefused(_Event):
    """A node refused an attempt before starting it, its machine draining: the chunk queues again as if never sent.

    Not a failure and not a retry: the attempt number is given back, nothing
    counts against the node, and no backoff is waited. The node drains from
    this refusal on (NodeDraining follows).
    """

    type: Literal["ChunkRefused"] = "ChunkRefused"
    chunk_id: str
    attempt: int = Field(ge=1)
    node_id: str


class ChunkQueued(_Event):
    type: Literal["ChunkQueued"] = "ChunkQueued"
    chunk_id: str
    reason: str


class ChunkStarted(_Event):
    type: Literal["ChunkStarted"] = "ChunkStarted"
    chunk_id: str
    attempt: int = Field(ge=1)
    node_id: str
    gpu_class: str


class ChunkRendered(_Event):
    type: Literal["ChunkRendered"] = "ChunkRendered"
    chunk_id: str
    attempt: int = Field(ge=1)
    node_id: str
    gpu_class: str
    frames: tuple[FrameRecord, ...]
    node_seconds: float = Field(ge=0)
    cost_usd: float = Field(ge=0)


class ChunkFailed(_Event):
    type: Literal["ChunkFailed"] = "ChunkFailed"
    chunk_id: str
    attempt: int = Field(ge=1)
    node_id: str
    error: str
    retryable: bool
    node_fault: bool = Field(
        True,
        description="Whether the failure counts against the node (the blocklist): not when the node "
        "process was lost and replaced, nor when the store was down for every node alike.",
    )


class ChunkInvalidated(_Event):
    """Frames the log recorded for a chunk are missing or altered: it must render again."""

    type: Literal["ChunkInvalidated"] = "ChunkInvalidated"
    chunk_id: str
    reason: str


class CutChecked(_Event):
    """The continuity rules ran on a cut's boundary frames."""

    type: Literal["CutChecked"] = "CutChecked"
    cut: str
    fingerprint: str = Field(description="The two shots' versions and grades the check saw.")
    findings: tuple[Finding, ...]
    report_key: str | None = Field(None, description="Store key of this check's report row (thumbnails).")


class FixProposed(_Event):
    type: Literal["FixProposed"] = "FixProposed"
    cut: str
    rule: str
    fix: Fix
    attempt: int = Field(ge=1, description="Fix round on this cut, bounded by the policy's max_fix_attempts.")


class FixApplied(_Event):
    """A grade fix took effect: the shot is mastered with this CDL from now on (non-destructive)."""

    type: Literal["FixApplied"] = "FixApplied"
    cut: str
    shot: str
    grade: CDL


class ShotRequeued(_Event):
    """A shot renders again as a new version with its spec patched; its old frames stay in the store."""

    type: Literal["ShotRequeued"] = "ShotRequeued"
    cut: str | None = Field(description="The cut whose fix asked for it; None when a person asked.")
    shot: str
    patch: dict[str, Any]
    version: int = Field(ge=2)
    shot_spec: dict[str, Any] = Field(description="The patched shot, validated, as JSON.")
    chunks: tuple[ChunkPlan, ...]
    reason: str | None = Field(None, max_length=1024, description="Why, when neither a cut nor a person asked (a neighbour it is generated from changed).")


class TakeChosen(_Event):
    """The continuity rules scored every take of a generated shot and accepted the best; the rest stay stored."""

    type: Literal["TakeChosen"] = "TakeChosen"
    shot: str
    version: int = Field(ge=1)
    take: int = Field(ge=1)
    fingerprint: str = Field(description="The shot's version and the neighbour frames the takes were judged against.")
    scores: tuple[TakeScore, ...]
    reason: str = Field(max_length=4096)


class SegmentStitched(_Event):
    """One segment of the master (a shot's cut range, or a gap) was built."""

    type: Literal["SegmentStitched"] = "SegmentStitched"
    segment: str
    fingerprint: str = Field(description="Identifies the shot versions and grades it was built from.")
    frames: tuple[FrameRecord, ...]


class MasterStitched(_Event):
    """Every segment is current and the deliverables were made from them."""

    type: Literal["MasterStitched"] = "MasterStitched"
    frames: tuple[FrameRecord, ...]
    contact_sheet: FrameRecord
    range: FrameRange
    deliverables: dict[str, FrameRecord] = Field(default_factory=dict)
    maxcll: int | None = None
    maxfall: int | None = None


class SequenceCompleted(_Event):
    type: Literal["SequenceCompleted"] = "SequenceCompleted"


class SequenceFailed(_Event):
    type: Literal["SequenceFailed"] = "SequenceFailed"
    reason: str


class SequenceCancelled(_Event):
    type: Literal["SequenceCancelled"] = "SequenceCancelled"
    reason: str = "cancelled by user"


class ChunkPreempted(_Event):
    """The farm took back an attempt that was waiting at its node: the chunk queues again.

    Not a failure: the attempt is not counted against max_attempts' purpose,
    and any late answer from it is fenced off like a superseded attempt's.
    """

    type: Literal["ChunkPreempted"] = "ChunkPreempted"
    chunk_id: str
    attempt: int = Field(ge=1)
    node_id: str
    reason: str


class BudgetExceeded(_Event):
    """The sequence's projected cost passed its budget: its dispatch pauses."""

    type: Literal["BudgetExceeded"] = "BudgetExceeded"
    projected_usd: float = Field(ge=0)
    budget_usd: float = Field(gt=0)


class NodeForgiven(_Event):
    """A node blocked for the sequence after repeated failures may take its chunks again."""

    type: Literal["NodeForgiven"] = "NodeForgiven"
    node_id: str


class SchedulingChanged(_Event):
    """A person changed the sequence's priority or budget; a budget pause is lifted."""

    type: Literal["SchedulingChanged"] = "SchedulingChanged"
    priority: int = Field(ge=0, le=100)
    budget_usd: float | None = Field(None, gt=0)


class SequenceRetired(_Event):
    """An operator set the sequence aside: it leaves the farm, and its id may be submitted anew.

    The way out for a sequence whose records cannot be folded (see
    core.isolation): the log stays append-only, and replay skips what came
    before this record for the sequence.
    """

    type: Literal["SequenceRetired"] = "SequenceRetired"
    reason: str = Field(max_length=1024)
    by: str = Field("operator", max_length=128, description="Who retired it (a token's name, or 'cli').")


Event = Annotated[
    SequenceSubmitted
    | ShotsPlanned
    | PoolStarted
    | NodeJoined
    | NodeDraining
    | ChunkRefused
    | ChunkQueued
    | ChunkStarted
    | ChunkRendered
    | ChunkFailed
    | ChunkInvalidated
    | CutChecked
    | FixProposed
    | FixApplied
    | ShotRequeued
    | TakeChosen
    | SegmentStitched
    | MasterStitched
    | SequenceCompleted
    | SequenceFailed
    | SequenceCancelled
    | ChunkPreempted
    | BudgetExceeded
    | NodeForgiven
    | SchedulingChanged
    | SequenceRetired,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def event_from_json(text: str | bytes) -> Event:
    return EVENT_ADAPTER.validate_json(text)


class Unreadable(BaseModel):
    """Not an event: what reading the log yields for a record that is not one.

    A record that fails its digest, or that this version cannot parse as an
    event, stands in the log as this, so that replay can set its sequence
    aside (core.isolation) instead of stopping the farm. Never appended.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["Unreadable"] = "Unreadable"
    v: int = 1
    at: float = 0.0
    sequence_id: str
    record_type: str = Field(description="The type the record's own column names.")
    reason: str


Record = Event | Unreadable
"""What reading the log yields: an event, or a record that cannot be one."""


def record_from_python(body: dict[str, Any]) -> Record:
    """An event as the coordinator's `events` call hands it out (JSON), or an Unreadable."""
    if body.get("type") == "Unreadable":
        return Unreadable.model_validate(body)
    return EVENT_ADAPTER.validate_python(body)


# A pool is farm-wide, not per sequence; its events use this id.
FARM = "*farm*"
