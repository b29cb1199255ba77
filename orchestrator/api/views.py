"""What the API answers: models of sequences, shots, chunks, cuts and cost, built from state.

Every builder is a pure function of a SequenceState (a fold of the log) and
the few extras FarmView keeps; nothing here reads the store or the clock.
The SDK parses answers with these same models. Links are paths relative to
the server, with ids percent-encoded.
"""

from __future__ import annotations

from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

from orchestrator.core.state import ChunkState, CutState, SequenceState
from orchestrator.core.status import ChunkStatus, CutStatus, SequenceStatus
from orchestrator.projections.progress import progress_of
from orchestrator.projections.takes import picture_seconds, take_rows, usd_per_second
from pipelines.color.cdl import CDL
from pipelines.continuity.findings import Finding, Severity, TakeRow
from pipelines.spec.sequence import FrameRange


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


def seq_path(sid: str) -> str:
    return f"/v1/sequences/{quote(sid, safe=':')}"


def frame_preview(sid: str, shot: str, frame: int) -> str:
    return f"{seq_path(sid)}/shots/{quote(shot, safe='')}/frames/{frame}/preview.png"


class SequenceSummary(_View):
    sequence_id: str
    show: str
    sequence: str
    status: SequenceStatus
    shots: int
    frames_total: int
    frames_rendered: int
    chunks_total: int
    chunks_rendered: int
    chunks_running: int
    node_seconds: float
    cost_usd: float
    submitted_at: float
    finished_at: float | None
    reason: str | None
    url: str


class SequenceDetail(SequenceSummary):
    fps: str
    resolution: tuple[int, int]
    eta_seconds: float | None
    master_frames: int
    contact_sheet: str | None
    cuts: dict[str, int]
    """How many cuts are in each state (pending, ok, fixing, fixed, review)."""


class Submitted(_View):
    sequence_id: str
    created: bool
    """False when the same spec was already submitted (the farm resumes it)."""
    status: SequenceStatus
    url: str


class ChunkView(_View):
    chunk_id: str
    shot: str
    version: int
    frames: FrameRange
    status: ChunkStatus
    attempt: int
    node_id: str | None
    frames_rendered: int
    node_seconds: float
    cost_usd: float
    failures: tuple[str, ...]


class ShotView(_View):
    name: str
    scene: str
    frames: FrameRange
    handles: int
    dissolve: int
    version: int
    status: str
    """queued, rendering, rendered or failed."""
    chunks_total: int
    chunks_rendered: int
    chunks_running: int
    frames_total: int
    frames_rendered: int
    node_seconds: float
    cost_usd: float
    """This shot's spend, versions a re-render replaced included."""
    grade: CDL | None
    notes: tuple[str, ...] = ()
    thumbnail: str | None
    """Preview of the middle cut frame, once it is rendered."""
    waiting: str | None = None
    """Why a generated shot is not queued yet (it waits for a neighbour's frame it is generated from)."""
    takes: tuple[TakeRow, ...] = ()
    """A shot generated as several takes: each take's score and cost, the accepted one marked."""
    usd_per_second: float = 0.0
    """This shot's spend per second of its cut, rejected takes and replaced versions included."""


class ShotDetail(ShotView):
    chunks: tuple[ChunkView, ...]


class CutView(_View):
    name: str
    left: str
    right: str
    status: CutStatus
    left_frame: int
    right_frame: int
    explanation: str
    """The findings at warn or above in plain words, or that there are none."""
    findings: tuple[Finding, ...]
    fixes: tuple[str, ...]
    checks: int
    left_thumbnail: str | None
    right_thumbnail: str | None


class GpuClassCost(_View):
    node_seconds: float
    cost_usd: float


class CostView(_View):
    sequence_id: str
    cost_usd: float
    node_seconds: float
    by_shot: dict[str, float]
    by_gpu_class: dict[str, GpuClassCost]
    replaced_versions_usd: float
    """Spent on shot versions that a re-render replaced (included in the totals)."""
    takes: tuple[TakeRow, ...] = ()
    """Every take of the generated shots, accepted or not, with its cost."""
    rejected_takes_usd: float = 0.0
    """Spent on takes the continuity rules did not accept (included in the totals)."""
    picture_seconds: float = 0.0
    usd_per_second: float = 0.0
    """Total spend per second of accepted picture."""


def summary(seq: SequenceState) -> dict:
    return dict(
        sequence_id=seq.sequence_id,
        show=seq.spec.show,
        sequence=seq.spec.sequence,
        status=seq.status,
        shots=len(seq.spec.shots),
        frames_total=seq.frames_total,
        frames_rendered=seq.frames_rendered,
        chunks_total=len(seq.chunks),
        chunks_rendered=len(seq.chunks_in(ChunkStatus.RENDERED)),
        chunks_running=len(seq.chunks_in(ChunkStatus.RUNNING)),
        node_seconds=seq.node_seconds,
        cost_usd=seq.cost_usd,
        submitted_at=seq.submitted_at,
        finished_at=seq.finished_at,
        reason=seq.reason,
        url=seq_path(seq.sequence_id),
    )


def sequence_summary(seq: SequenceState) -> SequenceSummary:
    return SequenceSummary(**summary(seq))


def sequence_detail(seq: SequenceState, elapsed: float, baseline: int) -> SequenceDetail:
    progress = progress_of(seq, elapsed, baseline)
    counts = {s.value: 0 for s in CutStatus}
    for cut in seq.cuts.values():
        counts[cut.status.value] += 1
    return SequenceDetail(
        **summary(seq),
        fps=str(seq.spec.fps),
        resolution=seq.spec.resolution,
        eta_seconds=None if progress.finished else progress.eta_seconds,
        master_frames=progress.master_frames,
        contact_sheet=f"{seq_path(seq.sequence_id)}/contact-sheet.png" if seq.master else None,
        cuts=counts,
    )


def chunk_view(c: ChunkState) -> ChunkView:
    return ChunkView(
        chunk_id=c.plan.chunk_id,
        shot=c.plan.shot,
        version=c.version,
        frames=c.plan.frames,
        status=c.status,
        attempt=c.attempt,
        node_id=c.node_id,
        frames_rendered=len(c.frames) if c.status is ChunkStatus.RENDERED else 0,
        node_seconds=c.node_seconds,
        cost_usd=c.cost_usd,
        failures=c.failures,
    )


def _shot_status(chunks: list[ChunkState]) -> str:
    statuses = {c.status for c in chunks}
    if ChunkStatus.FAILED in statuses:
        return "failed"
    if chunks and statuses == {ChunkStatus.RENDERED}:
        return "rendered"
    if statuses & {ChunkStatus.RUNNING, ChunkStatus.RENDERED, ChunkStatus.RETRY_WAIT}:
        return "rendering"
    return "queued"


def shot_view(seq: SequenceState, name: str, retired: float, notes: tuple[str, ...] = (), detail: bool = False) -> ShotView:
    shot = seq.spec.shot(name)
    chunks = sorted(
        (*(c for c in seq.chunks.values() if c.plan.shot == name), *seq.held.get(name, ())),
        key=lambda c: (c.plan.frames.first, c.plan.take),
    )
    waiting = seq.waiting_for_neighbours().get(name) if name in seq.held else None
    cost = retired + sum(c.cost_usd for c in chunks)
    middle = (shot.frames.first + shot.frames.last) // 2
    fields = dict(
        name=name,
        scene=shot.scene,
        frames=shot.frames,
        handles=shot.handles,
        dissolve=shot.dissolve,
        version=seq.versions.get(name, 0),
        status="waiting" if waiting else _shot_status(chunks),
        chunks_total=len(chunks),
        chunks_rendered=sum(c.status is ChunkStatus.RENDERED for c in chunks),
        chunks_running=sum(c.status is ChunkStatus.RUNNING for c in chunks),
        frames_total=sum(len(c.plan.frames) for c in chunks) or len(shot.render_range),  # every take's frames are work
        frames_rendered=sum(len(c.frames) for c in chunks if c.status is ChunkStatus.RENDERED),
        node_seconds=sum(c.node_seconds for c in chunks),
        cost_usd=cost,
        grade=shot.grade,
        notes=notes,
        thumbnail=frame_preview(seq.sequence_id, name, middle) if seq.frame_record(name, middle) else None,
        waiting=waiting,
        takes=tuple(r for r in take_rows(seq) if r.shot == name) if seq.has_takes(name) else (),
        usd_per_second=cost / (len(shot.frames) / float(seq.spec.fps)),
    )
    if detail:
        return ShotDetail(**fields, chunks=tuple(chunk_view(c) for c in chunks))
    return ShotView(**fields)


def cut_view(seq: SequenceState, cut: CutState) -> CutView:
    left, right = seq.boundary(cut)
    serious = [f for f in cut.findings if f.severity.rank >= Severity.WARN.rank]
    if cut.status is CutStatus.PENDING:
        explanation = "Not checked yet: waiting for both boundary frames."
    elif serious:
        explanation = " ".join(f.explanation for f in serious)
    else:
        explanation = "No continuity problems."
    sid = seq.sequence_id
    return CutView(
        name=cut.name,
        left=cut.left,
        right=cut.right,
        status=cut.status,
        left_frame=left,
        right_frame=right,
        explanation=explanation,
        findings=cut.findings,
        fixes=cut.fixes,
        checks=len(cut.reports),
        left_thumbnail=frame_preview(sid, cut.left, left) if seq.frame_record(cut.left, left) else None,
        right_thumbnail=frame_preview(sid, cut.right, right) if seq.frame_record(cut.right, right) else None,
    )


def cost_view(seq: SequenceState, retired: dict[str, float], by_class: dict[str, list[float]]) -> CostView:
    takes = take_rows(seq)
    by_shot = {s.name: retired.get(s.name, 0.0) for s in seq.spec.timeline}
    for c in seq.chunks.values():
        by_shot[c.plan.shot] = by_shot.get(c.plan.shot, 0.0) + c.cost_usd
    return CostView(
        sequence_id=seq.sequence_id,
        cost_usd=seq.cost_usd,
        node_seconds=seq.node_seconds,
        by_shot=by_shot,
        by_gpu_class={k: GpuClassCost(node_seconds=v[0], cost_usd=v[1]) for k, v in by_class.items()},
        replaced_versions_usd=seq.retired_cost_usd,
        takes=tuple(takes),
        rejected_takes_usd=sum(t.cost_usd for t in takes if not t.accepted),
        picture_seconds=picture_seconds(seq),
        usd_per_second=usd_per_second(seq),
    )
