"""The editorial cut every reader produces: clips in timeline order, as the edit decided them.

Frames here are record frames on the cut's own track (0 is the track's first
frame); `mapping` places them on the sequence timeline. A cut says nothing
about sets or cameras: that is the scene mapping's job.
"""

from __future__ import annotations

from fractions import Fraction

from pydantic import Field

from pipelines.color.cdl import CDL
from pipelines.spec.loading import SpecError
from pipelines.spec.scene import Frozen
from pipelines.spec.sequence import FrameRange


class EditorialError(SpecError):
    """A cut list (or mapping) that cannot be used; names the file and, where known, the item."""

    def __reduce__(self):  # keep source and problems across a process boundary (Ray)
        return (type(self), (self.source, self.problems))


class SourceRange(Frozen):
    """A clip's source range exactly as OpenTimelineIO reports it (`trimmed_range()`)."""

    start: float
    duration: float
    rate: float


class Note(Frozen):
    """A marker on the cut: what an editor or supervisor wrote at a frame."""

    text: str
    offset: int = Field(description="Frames from the clip's first record frame.")
    color: str | None = None


class ClipEvent(Frozen):
    index: int = Field(ge=0, description="Position among the track's clips, 0-based, gaps and transitions not counted.")
    name: str = Field(description="The clip's name in the cut (may be empty or repeated).")
    record: FrameRange = Field(description="Frames on the cut's track; 0 is the track's first frame.")
    source: SourceRange | None = None
    dissolve: int = Field(0, ge=0, description="Frames of dissolve from the previous clip, centred on the cut.")
    grade: CDL | None = None
    notes: tuple[Note, ...] = ()


class EditorialCut(Frozen):
    source: str = Field(description="Where the cut came from (a file name), for messages.")
    name: str = ""
    fps: Fraction
    start_timecode: str | None = Field(None, description="Timecode of the track's first frame, when the cut says.")
    clips: tuple[ClipEvent, ...] = Field(min_length=1)
    warnings: tuple[str, ...] = ()
