"""What crosses between the coordinator and the nodes: orders and results.

Small, frozen and free of pixels: an order names the frames to render and
the store keys to write; a result names the keys written and their digests.
"""

from __future__ import annotations

from fractions import Fraction

from pydantic import BaseModel, ConfigDict, Field

from pipelines.color.cdl import CDL
from pipelines.continuity.findings import Finding, TakeRow, TakeScore
from pipelines.master.delivered_cut import DeliveredCut
from pipelines.spec.setup import ShotSetup


class _Msg(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StoredFrame(_Msg):
    frame: int
    key: str
    digest: str


class ChunkOrder(_Msg):
    sequence_id: str
    chunk_id: str
    attempt: int
    setup: ShotSetup
    first: int
    last: int
    key_prefix: str = Field(description="e.g. show/seq/shots/sh010/v1/a1; frames go under it as 001001.exr")
    fps: Fraction
    start_timecode: str
    timeline_first: int = Field(description="Timeline frame that carries start_timecode.")
    engine: str = "pathtracer"

    def key(self, frame: int) -> str:
        return f"{self.key_prefix}/{frame:06d}.exr"


class ChunkResult(_Msg):
    chunk_id: str
    attempt: int
    frames: tuple[StoredFrame, ...]
    seconds: float
    device: str


class SourceLayer(_Msg):
    """A stored shot frame, its grade, and its weight in one master frame."""

    shot: str
    weight: float
    source: StoredFrame
    grades: tuple[CDL, ...] = Field((), description="Applied in order: the shot's own grade, then continuity fixes.")


class SourceFrame(_Msg):
    """One master frame: no layers for gap filler, two during a dissolve."""

    frame: int
    layers: tuple[SourceLayer, ...]


class SheetTile(_Msg):
    shot: str
    label: str
    source: StoredFrame


class SegmentOrder(_Msg):
    sequence_id: str
    segment: str
    fingerprint: str
    frames: tuple[SourceFrame, ...]
    resolution: tuple[int, int]
    key_prefix: str = Field(description="e.g. show/seq/master; frames go under exr/")
    fps: Fraction
    start_timecode: str
    timeline_first: int
    timeline: tuple[str, ...] = Field(
        (), description="Every segment of the master in timeline order: the master node encodes the deliverables as they are stitched."
    )
    labels: tuple[str, ...] = Field((), description="Burn-in text per frame of this segment for the review proxy; empty for none.")
    exact: bool = Field(False, description="OCIO's exact view processors for the deliverables (as DeliverOrder.exact).")


class SegmentResult(_Msg):
    segment: str
    fingerprint: str
    frames: tuple[StoredFrame, ...]


class CutRow(_Msg):
    """A cut's final verdict and the report rows of its checks, first to last."""

    cut: str
    status: str
    reports: tuple[str, ...]


class DeliverOrder(_Msg):
    sequence_id: str
    title: str
    frames: tuple[StoredFrame, ...] = Field(description="The whole master, in order.")
    key_prefix: str
    fps: Fraction
    sheet: tuple[SheetTile, ...] = Field(description="One tile per shot for the contact sheet.")
    cuts: tuple[CutRow, ...] = ()
    takes: tuple[TakeRow, ...] = Field((), description="Every take of the generated shots, scored, costed, the accepted one marked.")
    labels: tuple[str, ...] = Field((), description="Burn-in text per master frame for the review proxy.")
    resolution: tuple[int, int] = (0, 0)
    exact: bool = Field(False, description="OCIO's exact view processors for every deliverable, not the baked ones.")
    conform: DeliveredCut | None = Field(None, description="Each shot's place, grades and accepted frames: grades.ccc and conform.otio.")


class DeliverResult(_Msg):
    contact_sheet: StoredFrame
    deliverables: dict[str, StoredFrame] = Field(default_factory=dict)
    maxcll: int | None = None
    maxfall: int | None = None


class CheckOrder(_Msg):
    """Check one cut: the sequence as it stands (fixes applied) and the two boundary frames."""

    sequence_id: str
    cut: str
    left: str
    right: str
    fingerprint: str
    spec: dict = Field(description="The Sequence as JSON, patched by every fix so far.")
    left_frame: StoredFrame | None
    right_frame: StoredFrame | None
    report_prefix: str = Field(description="e.g. show/seq/continuity; this check's report row goes under it")
    left_neighbour: StoredFrame | None = Field(
        None, description="A rendered frame next to the left boundary frame: its header stages motion for shots without a spec camera."
    )
    right_neighbour: StoredFrame | None = Field(None, description="The same beside the right boundary frame.")


class CheckResult(_Msg):
    cut: str
    fingerprint: str
    findings: tuple[Finding, ...]
    report_key: str


class TakeFrames(_Msg):
    take: int
    chunk_id: str
    first: StoredFrame = Field(description="The take's first cut frame (it meets the shot before).")
    last: StoredFrame = Field(description="The take's last cut frame (it meets the shot after).")


class TakesOrder(_Msg):
    """Score every take of a generated shot against the boundary frames of the shots beside it."""

    sequence_id: str
    shot: str
    version: int
    fingerprint: str
    spec: dict = Field(description="The Sequence as JSON, patched by every fix so far.")
    takes: tuple[TakeFrames, ...]
    left: str | None = None
    left_frame: StoredFrame | None = Field(None, description="The last cut frame of the shot before, when the takes are judged against it.")
    right: str | None = None
    right_frame: StoredFrame | None = Field(None, description="The first cut frame of the shot after, when the takes are judged against it.")


class TakesResult(_Msg):
    shot: str
    version: int
    fingerprint: str
    take: int
    scores: tuple[TakeScore, ...]
    reason: str
