"""The cut as the master was built from it, for the grade and conform deliverables.

Each shot's place on the timeline, its dissolve in, the grades it was
mastered with (applied in order) and where the farm keeps the frames the
log accepted for it. Those frames are the raw scene-linear renders, before
any grade: the .ccc and the .otio hand them over with the grade beside them,
never baked in, so a colourist can change it.

A shot's chunks may have been accepted from different attempts, and each
attempt writes its own folder, so a shot's frames are a list of runs, each
one folder holding consecutive frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from pydantic import Field, model_validator

from pipelines.color.ccc import ccc_document
from pipelines.color.cdl import CDL
from pipelines.color.compose import compose
from pipelines.spec.base import Frozen
from pipelines.spec.sequence import FrameRange


class MediaRun(Frozen):
    """Consecutive frames of one shot in one folder, stored as {folder}/{frame:06d}.exr."""

    folder: str
    frames: FrameRange


class DeliveredShot(Frozen):
    name: str
    frames: FrameRange = Field(description="Cut range on the timeline (also the shot's own frame numbers).")
    dissolve: int = Field(0, ge=0, description="Frames of dissolve from the previous shot, centred on the cut.")
    grades: tuple[CDL, ...] = Field((), description="Applied in order: the shot's own grade, then continuity fixes.")
    media: tuple[MediaRun, ...] = Field(description="The accepted frames, handles included, in frame order.")

    @model_validator(mode="after")
    def _media_covers_the_cut(self) -> DeliveredShot:
        held = {f for run in self.media for f in run.frames}
        missing = [f for f in self.frames if f not in held]
        if missing:
            raise ValueError(f"shot {self.name}: no accepted frame for cut frame(s) {missing[:5]}")
        return self

    @property
    def net_grade(self) -> tuple[CDL, ...]:
        """The grades folded where that is exact; an identity for an ungraded shot, so every shot is listed."""
        return compose(self.grades) or (CDL(),)


class DeliveredCut(Frozen):
    name: str
    fps: Fraction
    start_timecode: str = Field(description="Timecode of the first shot's first frame.")
    shots: tuple[DeliveredShot, ...] = Field(min_length=1, description="In timeline order.")

    def corrections(self) -> dict[str, tuple[tuple[str, CDL], ...]]:
        """Per shot in timeline order, its (id, CDL) ColorCorrections: SHOT, then SHOT.2 ... while it stays a chain.

        A chain id that is also a shot's name (shot names may hold dots) gets
        a trailing underscore, so every id names one correction.
        """
        taken = {s.name for s in self.shots}
        out: dict[str, tuple[tuple[str, CDL], ...]] = {}
        for shot in self.shots:
            ids = [shot.name]
            for i in range(2, len(shot.net_grade) + 1):
                cc_id = f"{shot.name}.{i}"
                while cc_id in taken:
                    cc_id += "_"
                taken.add(cc_id)
                ids.append(cc_id)
            out[shot.name] = tuple(zip(ids, shot.net_grade))
        return out


def media_runs(keys: Mapping[int, str]) -> tuple[MediaRun, ...]:
    """Group a shot's accepted frames (frame -> store key) into runs of consecutive frames in one folder."""
    runs: list[MediaRun] = []
    for frame in sorted(keys):
        folder, _, name = keys[frame].rpartition("/")
        if name != f"{frame:06d}.exr" or not folder:
            raise ValueError(f"frame {frame} is stored as {keys[frame]!r}, not as <folder>/{frame:06d}.exr")
        last = runs[-1] if runs else None
        if last is not None and last.folder == folder and last.frames.last == frame - 1:
            runs[-1] = MediaRun(folder=folder, frames=FrameRange(first=last.frames.first, last=frame))
        else:
            runs.append(MediaRun(folder=folder, frames=FrameRange(first=frame, last=frame)))
    return tuple(runs)


def grades_ccc(cut: DeliveredCut) -> bytes:
    """grades.ccc: every shot's net grade in timeline order, an identity for an ungraded shot."""
    corrections = [c for shot in cut.corrections().values() for c in shot]
    return ccc_document(corrections, description=f"{cut.name}: grades as mastered, in timeline order")
