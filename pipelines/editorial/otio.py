"""OpenTimelineIO timelines -> EditorialCut, and the delivered cut -> .otio; the only module that imports opentimelineio.

Ranges are taken from OTIO itself: a clip's length is its `trimmed_range()`
and its place on the track is `range_of_child_at_index`, so a shot covers
exactly the frames editorial cut. A dissolve (an SMPTE_Dissolve between two
clips) becomes the incoming clip's `dissolve`; what shotfarm cannot represent
(other transitions, fades from or to nothing, asymmetric dissolves) is kept
as a warning rather than guessed at. Nested compositions are refused.

Must never read files, follow media references or run OTIO media linkers:
it parses the bytes it is given and nothing else, and writes bytes only.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import opentimelineio as otio
from pydantic import ValidationError

from pipelines.color.cdl import CDL
from pipelines.editorial.cut import ClipEvent, EditorialCut, EditorialError, Note, SourceRange
from pipelines.master.delivered_cut import DeliveredCut, DeliveredShot
from pipelines.spec import limits
from pipelines.spec.documents import check_json_depth, decode
from pipelines.spec.errors import SpecError, field_path
from pipelines.spec.sequence import FrameRange

_NO_LINKING = otio.media_linker.MediaLinkingPolicy.DoNotLinkMedia


def read_otio(data: bytes, source: str, track: int = 0) -> EditorialCut:
    """An .otio (JSON) document holding a Timeline.

    Size and nesting are checked on the raw text first: OpenTimelineIO's
    parser recurses in C++, and a deeply nested document would crash the
    process instead of raising.
    """
    text = _text(data, source)
    try:
        check_json_depth(text, source, limits.MAX_OTIO_DEPTH)
    except SpecError as e:
        raise EditorialError(e.source, e.problems) from None
    try:
        timeline = otio.adapters.read_from_string(text, "otio_json", media_linker_name=_NO_LINKING)
    except Exception as e:  # the parser's own exception types vary; all mean "not a usable file"
        raise EditorialError(source, [("", f"not an OpenTimelineIO file: {_first_line(e)}")]) from None
    return cut_from_timeline(timeline, source, track)


def _bounded_cut(build: Any, source: str) -> EditorialCut:
    """Build the cut; a value past the cut's bounds (a clip name too long) is the file's fault, named."""
    try:
        return build()
    except ValidationError as e:
        problems = [(field_path(err["loc"]), str(err["msg"])) for err in e.errors(include_input=False)]
        raise EditorialError(source, problems) from None


def read_cmx3600(text: str, source: str, rate: Fraction, track: int = 0) -> EditorialCut:
    """A CMX3600 EDL's text, read by otio-cmx3600-adapter at `rate` (EDLs do not carry one)."""
    if len(text) > limits.MAX_CUT_BYTES:
        raise EditorialError(source, [("", f"is over the limit of {limits.MAX_CUT_BYTES:,} bytes (MAX_CUT_BYTES)")])
    try:
        timeline = otio.adapters.read_from_string(
            text, "cmx_3600", media_linker_name=_NO_LINKING, rate=float(rate)
        )
    except Exception as e:
        raise EditorialError(source, [("", f"not a readable CMX3600 EDL: {_first_line(e)}")]) from None
    cut = cut_from_timeline(timeline, source, track, fps=rate)
    # The adapter keeps the first event's record timecode as the track's
    # negative start offset (an EDL has no global start time of its own).
    placed = list(timeline.video_tracks())[track].source_range
    if cut.start_timecode is None and placed is not None and placed.start_time.value < 0:
        start = otio.opentime.RationalTime(-placed.start_time.value, placed.start_time.rate)
        cut = cut.model_copy(update={"start_timecode": otio.opentime.to_timecode(start, float(rate))})
    return cut


def _text(data: bytes, source: str) -> str:
    try:
        return decode(data, source, limits.MAX_CUT_BYTES)
    except SpecError as e:
        raise EditorialError(e.source, e.problems) from None


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0][:300] if lines else type(e).__name__


def cut_from_timeline(timeline: Any, source: str, track: int = 0, fps: Fraction | None = None) -> EditorialCut:
    return _bounded_cut(lambda: _cut_from_timeline(timeline, source, track, fps), source)


def _cut_from_timeline(timeline: Any, source: str, track: int, fps: Fraction | None) -> EditorialCut:
    if not isinstance(timeline, otio.schema.Timeline):
        raise EditorialError(source, [("", f"expected a Timeline, found {type(timeline).__name__}")])
    tracks = list(timeline.video_tracks())
    if not tracks:
        raise EditorialError(source, [("tracks", "the timeline has no video track")])
    if not 0 <= track < len(tracks):
        raise EditorialError(source, [("track", f"the timeline has {len(tracks)} video track(s); {track} is not one")])
    warnings = [
        f"video track {i} ({t.name or 'unnamed'}) is ignored: shots come from track {track}"
        for i, t in enumerate(tracks)
        if i != track and any(isinstance(c, otio.schema.Clip) for c in t)
    ]
    chosen = tracks[track]
    rate = _rate(chosen, source, fps)
    reader = _TrackReader(chosen, source, rate, warnings)
    clips = reader.clips()
    if not clips:
        raise EditorialError(source, [(f"tracks[{track}]", "the track has no clips")])
    start = timeline.global_start_time
    return EditorialCut(
        source=source,
        name=timeline.name or "",
        fps=_fraction(rate),
        start_timecode=_timecode(start, rate, source) if start is not None else None,
        clips=tuple(clips),
        warnings=tuple(warnings),
    )


def _timecode(start: Any, rate: float, source: str) -> str:
    value = start.value
    if not (math.isfinite(value) and math.isfinite(start.rate) and 0 <= value / max(start.rate, 1e-9) < 86_400):
        raise EditorialError(source, [("global_start_time", f"{value} at {start.rate} fps is not a time of day")])
    try:
        return otio.opentime.to_timecode(start, rate)
    except Exception as e:
        raise EditorialError(source, [("global_start_time", f"not a timecode: {_first_line(e)}")]) from None


def _rate(track: Any, source: str, fps: Fraction | None) -> float:
    if fps is not None:
        return float(fps)
    for item in track:
        if isinstance(item, otio.schema.Clip):
            try:
                rate = float(item.trimmed_range().duration.rate)
            except Exception as e:
                raise EditorialError(source, [(f"clip {item.name!r}", f"has no usable range: {_first_line(e)}")]) from None
            if not (math.isfinite(rate) and 1 <= rate <= 240):
                raise EditorialError(source, [(f"clip {item.name!r}", f"rate {rate:g} is not a frame rate (1 to 240)")])
            return rate
    raise EditorialError(source, [("", "the track has no clips")])


def _fraction(rate: float) -> Fraction:
    # OTIO stores 23.976 or 24000/1001 as a float; the nearest NTSC-style ratio is meant.
    return Fraction(rate).limit_denominator(1001)


class _TrackReader:
    def __init__(self, track: Any, source: str, rate: float, warnings: list[str]):
        self.track, self.source, self.rate, self.warnings = track, source, rate, warnings

    def frames(self, t: Any, what: str) -> int:
        value = t.rescaled_to(self.rate).value
        if not math.isfinite(value):
            raise EditorialError(self.source, [(what, f"{value} is not a number of frames")])
        if abs(value) > limits.MAX_FRAME:
            raise EditorialError(self.source, [(what, f"{value:,.0f} frames is past the limit of {limits.MAX_FRAME:,} (MAX_FRAME)")])
        if abs(value - round(value)) > 1e-6:
            raise EditorialError(self.source, [(what, f"{value:g} is not a whole frame at {self.rate:g} fps")])
        return int(round(value))

    def clips(self) -> list[ClipEvent]:
        items = list(self.track)
        if len(items) > 2 * limits.MAX_SHOTS + 1:  # clips with a transition or gap between each
            raise EditorialError(self.source, [(self.track.name or "track", f"{len(items):,} items; a cut holds at most {limits.MAX_SHOTS:,} clips (MAX_SHOTS)")])
        clips: list[ClipEvent] = []
        pending_dissolve = 0
        for i, item in enumerate(items):
            where = f"{self.track.name or 'track'}[{i}]"
            if isinstance(item, otio.schema.Transition):
                pending_dissolve = self._transition(items, i, where)
                continue
            if isinstance(item, otio.schema.Gap):
                continue
            if not isinstance(item, otio.schema.Clip):
                raise EditorialError(
                    self.source,
                    [(where, f"{type(item).__name__} {item.name!r} is a nested composition; flatten the edit first")],
                )
            clips.append(self._clip(item, i, len(clips), where, pending_dissolve))
            pending_dissolve = 0
        return self._with_track_markers(clips)

    def _transition(self, items: list[Any], i: int, where: str) -> int:
        t = items[i]
        before = items[i - 1] if i > 0 else None
        after = items[i + 1] if i + 1 < len(items) else None
        between_clips = isinstance(before, otio.schema.Clip) and isinstance(after, otio.schema.Clip)
        kind = t.transition_type
        if kind != otio.schema.TransitionTypes.SMPTE_Dissolve:
            self.warnings.append(f"{where}: {kind} transition {t.name!r} is not supported; it plays as a cut")
            return 0
        if not between_clips:
            self.warnings.append(f"{where}: dissolve {t.name!r} does not join two clips (a fade); it is ignored")
            return 0
        into, out_of = self.frames(t.in_offset, f"{where}.in_offset"), self.frames(t.out_offset, f"{where}.out_offset")
        total = into + out_of
        if total and into != total // 2:
            self.warnings.append(
                f"{where}: dissolve into {after.name!r} runs {into} frame(s) before the cut and {out_of} after; "
                f"shotfarm centres dissolves on the cut, so its {total} frames start {total // 2} before it"
            )
        return total

    def _clip(self, clip: Any, i: int, index: int, where: str, dissolve: int) -> ClipEvent:
        try:
            trimmed = clip.trimmed_range()
        except Exception as e:
            raise EditorialError(self.source, [(where, f"clip {clip.name!r} has no usable range: {_first_line(e)}")]) from None
        placed = self.track.range_of_child_at_index(i)
        first = self.frames(placed.start_time, f"{where}.record_in")
        length = self.frames(trimmed.duration, f"{where}.duration")
        if length < 1:
            raise EditorialError(self.source, [(where, f"clip {clip.name!r} is {length} frames long")])
        notes = []
        for m in clip.markers:
            at = self.frames(m.marked_range.start_time - trimmed.start_time, f"{where}.markers")
            notes.append(Note(text=m.name or "(marker)", offset=at, color=_color(m)))
        return ClipEvent(
            index=index,
            name=clip.name or "",
            record=FrameRange(first=first, last=first + length - 1),
            source=SourceRange(
                start=trimmed.start_time.value, duration=trimmed.duration.value, rate=trimmed.duration.rate
            ),
            dissolve=dissolve,
            grade=self._grade(clip, where),
            notes=tuple(notes),
        )

    def _grade(self, clip: Any, where: str) -> CDL | None:
        cdl = clip.metadata.get("cdl")
        if cdl is None:
            return None
        try:
            sop = cdl.get("asc_sop") or {}
            values: dict[str, Any] = {k: tuple(float(v) for v in sop[k]) for k in ("slope", "offset", "power") if k in sop}
            if cdl.get("asc_sat") is not None:
                values["saturation"] = float(cdl["asc_sat"])
            return CDL.model_validate(values)
        except Exception as e:
            raise EditorialError(self.source, [(f"{where}.cdl", f"ASC_SOP/ASC_SAT of {clip.name!r}: {_first_line(e)}")]) from None

    def _with_track_markers(self, clips: list[ClipEvent]) -> list[ClipEvent]:
        """Markers on the track itself go to the clip they fall in."""
        for m in self.track.markers:
            at = self.frames(m.marked_range.start_time, "track.markers")
            for n, c in enumerate(clips):
                if c.record.first <= at <= c.record.last:
                    note = Note(text=m.name or "(marker)", offset=at - c.record.first, color=_color(m))
                    clips[n] = c.model_copy(update={"notes": (*c.notes, note)})
                    break
            else:
                self.warnings.append(f"track marker {m.name!r} at frame {at} is not on a clip; it is ignored")
        return clips


def _color(marker: Any) -> str | None:
    color = getattr(marker, "color", None)
    return str(color) if color else None


MEDIA_NOTE = "media references are keys in the farm's store, relative to its root (the --out folder, or the S3 bucket and prefix)"


def conform_otio(cut: DeliveredCut) -> bytes:
    """The delivered cut as an .otio: one video track, a clip per shot carrying its CDL.

    Clips point at the accepted raw renders (ImageSequenceReference, relative
    to the store's root), not at the master EXRs, which have the grade baked
    in: a tool that applies the clip's CDL to them would grade twice. Gaps
    stay gaps, a dissolve is an SMPTE_Dissolve centred on the cut as the
    master plays it. A shot whose frames lie in several attempt folders is
    written as consecutive clips of the same name, one per folder, so every
    reference is true.
    """
    rate = float(cut.fps)
    corrections = cut.corrections()
    track = otio.schema.Track(name="master", kind=otio.schema.TrackKind.Video)
    at = cut.shots[0].frames.first
    for shot in cut.shots:
        if shot.frames.first > at:
            track.append(otio.schema.Gap(source_range=_span(0, shot.frames.first - at, rate)))
        if shot.dissolve and len(track) and isinstance(track[-1], otio.schema.Clip):
            before = shot.dissolve // 2  # as conform.dissolve_range: the shorter half before the cut
            track.append(
                otio.schema.Transition(
                    name=f"dissolve into {shot.name}",
                    transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                    in_offset=otio.opentime.RationalTime(before, rate),
                    out_offset=otio.opentime.RationalTime(shot.dissolve - before, rate),
                )
            )
        for clip in _shot_clips(shot, corrections[shot.name], rate):
            track.append(clip)
        at = shot.frames.last + 1
    timeline = otio.schema.Timeline(
        name=cut.name,
        global_start_time=otio.opentime.from_timecode(cut.start_timecode, rate),
        metadata={"shotfarm": {"media": MEDIA_NOTE}},
    )
    timeline.tracks.append(track)
    text: str = otio.adapters.write_to_string(timeline, "otio_json")
    return text.encode()


def _span(first: int, frames: int, rate: float) -> Any:
    return otio.opentime.TimeRange(otio.opentime.RationalTime(first, rate), otio.opentime.RationalTime(frames, rate))


def _shot_clips(shot: DeliveredShot, grade: tuple[tuple[str, CDL], ...], rate: float) -> list[Any]:
    clips = []
    for run in shot.media:
        first, last = max(run.frames.first, shot.frames.first), min(run.frames.last, shot.frames.last)
        if first > last:
            continue  # handle frames only
        media = otio.schema.ImageSequenceReference(
            target_url_base=f"{run.folder}/",
            name_suffix=".exr",
            start_frame=run.frames.first,
            frame_zero_padding=6,
            rate=rate,
            available_range=_span(run.frames.first, len(run.frames), rate),
        )
        media.name = shot.name  # the EDL's reel name
        clips.append(
            otio.schema.Clip(
                name=shot.name,
                media_reference=media,
                source_range=_span(first, last - first + 1, rate),
                metadata=_grade_metadata(grade),
            )
        )
    return clips


def _grade_metadata(grade: tuple[tuple[str, CDL], ...]) -> dict[str, Any]:
    """The CDL where OTIO's CMX3600 adapter looks for it, so an EDL from this timeline carries ASC_SOP/ASC_SAT.

    A chain that does not fold into one CDL cannot be said there; the clip
    then carries no "cdl" (one of the chain alone would be a wrong grade) and
    lists the chain, in order, under "shotfarm" with the .ccc ids that hold it.
    """
    if len(grade) == 1:
        return {"cdl": _cdl_metadata(grade[0][1])}
    return {"shotfarm": {"cdl_chain": [_cdl_metadata(c) for _, c in grade], "ccc_ids": [i for i, _ in grade]}}


def _cdl_metadata(cdl: CDL) -> dict[str, Any]:
    return {
        "asc_sop": {"slope": list(cdl.slope), "offset": list(cdl.offset), "power": list(cdl.power)},
        "asc_sat": cdl.saturation,
    }
