"""The editorial cut every reader produces: clips in timeline order, as the edit decided them.

Frames here are record frames on the cut's own track (0 is the track's first
frame); `mapping` places them on the sequence timeline. A cut says nothing
about sets or cameras: that is the scene mapping's job.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated

from pydantic import Field

from pipelines.color.cdl import CDL
from pipelines.spec import limits
from pipelines.spec.errors import SpecError
from pipelines.spec.limits import Count, Real
from pipelines.spec.scene import Frozen
from pipelines.spec.sequence import FrameRange

_Label = Annotated[str, Field(max_length=limits.MAX_LABEL)]
_Text = Annotated[str, Field(max_length=limits.MAX_TEXT)]
_Time = Annotated[Real, Field(ge=-limits.MAX_FRAME, le=limits.MAX_FRAME)]


class EditorialError(SpecError):
    """A cut list (or mapping) that cannot be used; names the file and, where known, the item."""


class SourceRange(Frozen):
    """A clip's source range exactly as OpenTimelineIO reports it (`trimmed_range()`)."""

    start: Annotated[Real, Field(ge=-1e12, le=1e12)]
    """Source media may start at any timecode-derived frame, far past the timeline's."""
    duration: _Time
    rate: Annotated[Real, Field(gt=0, le=1000)]


class Note(Frozen):
    """A marker on the cut: what an editor or supervisor wrote at a frame."""

    text: _Text
    offset: Count = Field(ge=-limits.MAX_FRAME, le=limits.MAX_FRAME, description="Frames from the clip's first record frame.")
    color: _Label | None = None


class ClipEvent(Frozen):
    index: Count = Field(ge=0, description="Position among the track's clips, 0-based, gaps and transitions not counted.")
    name: _Label = Field(description="The clip's name in the cut (may be empty or repeated).")
    record: FrameRange = Field(description="Frames on the cut's track; 0 is the track's first frame.")
    source: SourceRange | None = None
    dissolve: Count = Field(0, ge=0, description="Frames of dissolve from the previous clip, centred on the cut.")
    grade: CDL | None = None
    notes: tuple[Note, ...] = Field((), max_length=limits.MAX_TAGS)


class EditorialCut(Frozen):
    source: _Label = Field(description="Where the cut came from (a file name), for messages.")
    name: _Text = ""
    fps: Fraction
    start_timecode: str | None = Field(None, max_length=11, description="Timecode of the track's first frame, when the cut says.")
    clips: tuple[ClipEvent, ...] = Field(min_length=1, max_length=limits.MAX_SHOTS)
    warnings: tuple[_Text, ...] = Field((), max_length=limits.MAX_ITEMS)
