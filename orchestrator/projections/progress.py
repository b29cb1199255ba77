"""A sequence's progress as people read it: frames, chunks, ETA, cost.

A projection of state (itself a projection of the log), so a resumed run
shows the frames rendered before the crash as done and estimates its ETA
from the rate of this run only.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from orchestrator.core.state import SequenceState
from orchestrator.core.status import ChunkStatus, SequenceStatus


class CutLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    cut: str
    status: str
    problems: tuple[str, ...]
    """Rules at warn or above in the latest check."""
    fixes: tuple[str, ...]

    def __str__(self) -> str:
        """One line per cut, e.g. 'sh030>sh040  fixed   exposure: grade, axis_180: requeue'."""
        text = f"{self.cut:<22} {self.status:<7}"
        if self.fixes:
            text += " " + ", ".join(dict.fromkeys(self.fixes))
        if self.problems and self.status == "review":
            text += f"  for review: {', '.join(dict.fromkeys(self.problems))}"
        return text


class Progress(BaseModel):
    model_config = ConfigDict(frozen=True)

    sequence_id: str
    status: SequenceStatus
    shots: int
    frames_total: int
    frames_rendered: int
    chunks_total: int
    chunks_rendered: int
    chunks_running: int
    node_seconds: float
    cost_usd: float
    eta_seconds: float | None
    master_frames: int
    master_keys: tuple[str, ...] = ()
    contact_sheet: str | None = None
    deliverables: dict[str, str] = {}
    cuts: tuple[CutLine, ...] = ()
    reason: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in (SequenceStatus.COMPLETED, SequenceStatus.FAILED, SequenceStatus.CANCELLED)


def progress_of(seq: SequenceState, elapsed: float, baseline_frames: int) -> Progress:
    done = seq.frames_rendered
    this_run = done - baseline_frames
    remaining = seq.frames_total - done
    eta = remaining * elapsed / this_run if this_run > 0 and elapsed > 0 else None
    master = seq.master
    return Progress(
        sequence_id=seq.sequence_id,
        status=seq.status,
        shots=len(seq.spec.shots),
        frames_total=seq.frames_total,
        frames_rendered=done,
        chunks_total=len(seq.chunks),
        chunks_rendered=seq.chunks.count(ChunkStatus.RENDERED),  # maintained counts, not a scan
        chunks_running=seq.chunks.count(ChunkStatus.RUNNING),
        node_seconds=seq.node_seconds,
        cost_usd=seq.cost_usd,
        eta_seconds=eta,
        master_frames=len(master.frames) if master else 0,
        master_keys=(master.frames[0].key, master.frames[-1].key) if master else (),
        contact_sheet=master.contact_sheet.key if master else None,
        deliverables={name: f.key for name, f in master.deliverables.items()} if master else {},
        cuts=tuple(
            CutLine(
                cut=c.name,
                status=c.status.value,
                problems=tuple(f.rule for f in c.findings if f.severity.rank >= 1),
                fixes=c.fixes,
            )
            for c in seq.cuts.values()
        ),
        reason=seq.reason,
    )
