"""A sequence as a studio pipeline submits it: a timeline of shots over sets.

Frame numbers on a Shot are timeline (record) frames; handles are extra frames
rendered on both sides of the cut and trimmed when mastering. Camera and motion
keyframes are shot-relative (0 is the shot's first cut frame), so a shot can be
slipped on the timeline without re-keying it.
"""

from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction
from functools import cached_property
from typing import Annotated

from pydantic import Field, ValidationError, WithJsonSchema, field_validator, model_validator

from pipelines.color.cdl import CDL
from pipelines.spec import generated, limits
from pipelines.spec.errors import SpecError, problems_of
from pipelines.spec.limits import Count, Frame, Label, Real, Text, too_many
from pipelines.spec.scene import Camera, Frozen, Light, Scene
from pipelines.spec.sources import BlenderShot, EngineChoice

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Name = Annotated[str, Field(pattern=_NAME)]
_Side = Annotated[Count, Field(ge=limits.MIN_SIDE, le=limits.MAX_SIDE, multiple_of=2)]
Resolution = tuple[_Side, _Side]
_FPS = re.compile(r"^\s*\d{1,6}(\.\d{1,6})?(/\d{1,6})?\s*$")
FPS_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 1, "maximum": 60},
        {"type": "string", "pattern": _FPS.pattern, "maxLength": 32},
    ]
}
"""What the published schema says of fps: the bounds `_parse_fps` enforces."""
DEFAULT_ENGINE = "pathtracer"
"""Renders spec scenes unless the farm is set up with another."""
_TIMECODE = re.compile(r"^(\d{2}):(\d{2}):(\d{2})[:;](\d{2})$")


class FrameRange(Frozen):
    """An inclusive range of frames, first <= last."""

    first: Frame
    last: Frame

    @model_validator(mode="after")
    def _ordered(self) -> FrameRange:
        if self.last < self.first:
            raise ValueError(f"last frame {self.last} is before first frame {self.first}")
        return self

    def __len__(self) -> int:
        return self.last - self.first + 1

    def __iter__(self):  # type: ignore[override]  # iterate frames, not fields
        return iter(range(self.first, self.last + 1))

    def overlaps(self, other: FrameRange) -> bool:
        return self.first <= other.last and other.first <= self.last


class Continuity(Frozen):
    """What the script supervisor declares for a shot."""

    location: Text | None = None
    time_of_day: Label | None = None
    wardrobe: dict[Label, Label] = Field(default_factory=dict, max_length=limits.MAX_TAGS)
    props: tuple[Label, ...] = Field((), max_length=limits.MAX_TAGS)


class Shot(Frozen):
    name: Name
    scene: Label = Field(description="Key into Sequence.scenes.")
    frames: FrameRange = Field(description="Cut range on the sequence timeline.")
    handles: Count = Field(0, ge=0, le=limits.MAX_HANDLES, description="Frames rendered beyond each end of the cut.")
    camera: Camera | None = Field(None, description="The camera move; every shot of a spec scene has one.")
    blender: BlenderShot | None = Field(None, description="Camera object and passes; every shot of a .blend scene has one.")
    engine: EngineChoice | None = Field(
        None, description="An installed engine (see `shotfarm engines`) and its options, instead of the scene's own."
    )
    lights: tuple[Light, ...] | None = Field(
        None, max_length=limits.MAX_LIGHTS, description="Replaces the scene's lights for this shot when given."
    )
    samples: Count | None = Field(None, ge=1, le=limits.MAX_SAMPLES, description="Overrides Sequence.samples.")
    continuity: Continuity = Continuity()
    dissolve: Count = Field(
        0, ge=0, le=limits.MAX_DISSOLVE,
        description="Frames of dissolve from the previous shot, centred on the cut; "
        "both shots need handles covering half of it.",
    )
    grade: CDL | None = Field(None, description="Initial ASC CDL for the shot (e.g. from an EDL's ASC_SOP).")

    @model_validator(mode="after")
    def _bounded(self) -> Shot:
        if self.frames.last + self.handles > limits.MAX_FRAME:
            raise ValueError(f"shot {self.name}'s last handle frame is past frame {limits.MAX_FRAME:,} (MAX_FRAME)")
        frames = len(self.frames) + 2 * self.handles
        if frames > limits.MAX_SHOT_FRAMES:
            raise ValueError(too_many(f"frames rendered by shot {self.name} (cut plus handles)", frames, "MAX_SHOT_FRAMES"))
        if self.engine is not None and self.engine.makes_clips:
            try:  # the engine's own checks, so a bad option is refused before anything is queued
                generated.parse(self.engine.options, (generated.SIZE_STEP, generated.SIZE_STEP), 0)
            except ValueError as e:
                raise ValueError(f"shot {self.name} is generated: {e}") from None
        return self

    @property
    def render_range(self) -> FrameRange:
        """The frames to render: the cut plus handles (never below frame 0)."""
        return FrameRange(
            first=max(0, self.frames.first - self.handles), last=self.frames.last + self.handles
        )


class Sequence(Frozen):
    show: Name
    sequence: Name
    fps: Annotated[Fraction, WithJsonSchema(FPS_SCHEMA)] = Field(
        Fraction(24), description="Frames per second, e.g. 24 or '24000/1001'."
    )
    resolution: Resolution = Field(
        (1920, 1080), description="Width and height in pixels; both even, as the 4:2:0 deliverables need."
    )
    samples: Count = Field(16, ge=1, le=limits.MAX_SAMPLES, description="Samples per pixel.")
    bounces: Count = Field(3, ge=1, le=limits.MAX_BOUNCES)
    seed: Count = Field(0, ge=0, le=limits.MAX_SEED)
    start_timecode: str = Field("01:00:00:00", max_length=11, description="Timecode of the first timeline frame.")
    priority: Count = Field(
        50, ge=0, le=100,
        description="Scheduling priority (higher first) among this show's work, and for spare capacity.",
    )
    budget_usd: Real | None = Field(
        None, gt=0, le=limits.MAX_BUDGET,
        description="Dispatch pauses when the projected cost of the sequence passes this many USD.",
    )
    scenes: dict[Name, Scene] = Field(min_length=1, max_length=limits.MAX_SCENES)
    shots: tuple[Shot, ...] = Field(min_length=1, max_length=limits.MAX_SHOTS)

    @field_validator("fps", mode="before")
    @classmethod
    def _parse_fps(cls, v: object) -> Fraction:
        if isinstance(v, bool) or (isinstance(v, str) and not _FPS.match(v)):
            raise ValueError(f"fps must be a number or a ratio like 24000/1001, got {str(v)[:32]!r}")
        try:
            fps = Fraction(str(v)) if not isinstance(v, Fraction) else v
        except (ValueError, ZeroDivisionError, OverflowError):
            raise ValueError(f"fps must be a number or a ratio like 24000/1001, got {v!r}") from None
        # EXR timecode counts at most 60 frames a second (30 with field pairs).
        if not 1 <= fps <= 60:
            raise ValueError(f"fps must be between 1 and 60, got {v}")
        return fps

    @field_validator("start_timecode")
    @classmethod
    def _timecode(cls, v: str) -> str:
        m = _TIMECODE.match(v)
        if not m or int(m[2]) > 59 or int(m[3]) > 59:
            raise ValueError(f"start_timecode must look like HH:MM:SS:FF, got {v!r}")
        return v

    @model_validator(mode="after")
    def _timeline_is_consistent(self) -> Sequence:
        names = [s.name for s in self.shots]
        dupes = sorted(n for n, k in Counter(names).items() if k > 1)
        if dupes:
            raise ValueError(f"shot names must be unique, repeated: {', '.join(dupes)}")
        for shot in self.shots:
            if shot.scene not in self.scenes:
                raise ValueError(f"shot {shot.name} uses undefined scene {shot.scene!r}")
            _check_source(shot, self.scenes[shot.scene])
        frames = sum(len(s.render_range) for s in self.shots)
        if frames > limits.MAX_SEQUENCE_FRAMES:
            raise ValueError(too_many("frames rendered by the sequence", frames, "MAX_SEQUENCE_FRAMES"))
        ordered = self.timeline
        _check_neighbour_conditioning(ordered)
        if ordered[0].dissolve:
            raise ValueError(f"shot {ordered[0].name} opens the sequence and cannot dissolve from a previous shot")
        for left, right in zip(ordered, ordered[1:]):
            if left.frames.overlaps(right.frames):
                raise ValueError(
                    f"shots {left.name} ({left.frames.first}-{left.frames.last}) and "
                    f"{right.name} ({right.frames.first}-{right.frames.last}) overlap on the timeline"
                )
            if right.dissolve:
                need = (right.dissolve + 1) // 2
                if left.frames.last + 1 != right.frames.first:
                    raise ValueError(f"shot {right.name} dissolves from {left.name}, so it must follow it without a gap")
                if left.handles < need or right.handles < need:
                    raise ValueError(
                        f"a {right.dissolve}-frame dissolve from {left.name} to {right.name} needs "
                        f"handles of at least {need} on both shots"
                    )
        return self

    @property
    def timeline(self) -> tuple[Shot, ...]:
        """Shots in timeline order."""
        return tuple(sorted(self.shots, key=lambda s: s.frames.first))

    def shot(self, name: str) -> Shot:
        for s in self.shots:
            if s.name == name:
                return s
        raise KeyError(name)

    def with_quality(self, resolution: tuple[int, int] | None = None, samples: int | None = None) -> Sequence:
        """The same sequence at another resolution or sample count (previews, tests).

        A sample count given here replaces every shot's own override too.
        """
        changes: dict = {}
        if resolution:
            changes["resolution"] = resolution
        if samples:
            changes["samples"] = samples
            changes["shots"] = [s.model_dump() | {"samples": None} for s in self.shots]
        if not changes:
            return self
        try:
            return Sequence.model_validate(self.model_dump(mode="json") | changes)
        except ValidationError as e:
            raise SpecError("--resolution/--samples", problems_of(e)) from None

    def samples_for(self, shot: Shot) -> int:
        return shot.samples or self.samples

    def engine_for(self, shot: Shot, default: str = DEFAULT_ENGINE) -> str:
        """The engine that renders `shot`: its own choice, its scene file's engine, else `default`."""
        return engine_of(shot, self.scenes[shot.scene], default)

    @cached_property
    def generated_shots(self) -> frozenset[str]:
        """The shots an engine generates as clips: only these have takes or wait for a neighbour's frame."""
        return frozenset(s.name for s in self.shots if _generated(s))

    def takes(self, shot: Shot) -> int:
        """Takes the shot is generated as (1 for anything that is not generated)."""
        return generated.takes(shot.engine.options) if _generated(shot) else 1

    def conditioning(self, shot: Shot) -> dict[str, tuple[str, int]]:
        """option -> (neighbour shot, its frame) for each picture of a neighbour the shot is generated from."""
        if not _generated(shot):
            return {}
        ordered = self.timeline
        i = ordered.index(shot)
        out = {}
        for option, word in generated.neighbours(shot.engine.options).items():  # type: ignore[union-attr]
            other = ordered[i - 1] if word == generated.PREVIOUS else ordered[i + 1]
            out[option] = (other.name, other.frames.last if word == generated.PREVIOUS else other.frames.first)
        return out

    def beside(self, name: str) -> tuple[Shot | None, Shot | None]:
        """The shots just before and just after `name` on the timeline (None at either end)."""
        ordered = self.timeline
        i = next(k for k, s in enumerate(ordered) if s.name == name)
        return (ordered[i - 1] if i > 0 else None), (ordered[i + 1] if i + 1 < len(ordered) else None)

    def conditioned_on(self, name: str) -> tuple[str, ...]:
        """Shots generated from one of this shot's frames: they wait for it, and a new version of it regenerates them."""
        near = [s for s in self.beside(name) if s is not None]
        return tuple(s.name for s in near if any(n == name for n, _ in self.conditioning(s).values()))

    def engines(self, default: str = DEFAULT_ENGINE) -> tuple[str, ...]:
        """Every engine the sequence needs, the first shot's first (it keys the sequence's runtime estimate)."""
        return tuple(dict.fromkeys(self.engine_for(s, default) for s in self.timeline))


def engine_of(shot: Shot, scene: Scene, default: str = DEFAULT_ENGINE) -> str:
    if shot.engine is not None:
        return shot.engine.name
    if scene.blend is not None:
        return "blender"
    if scene.command is not None:
        return "command"
    return default


def _generated(shot: Shot) -> bool:
    return shot.engine is not None and shot.engine.makes_clips


def _check_neighbour_conditioning(ordered: tuple[Shot, ...]) -> None:
    """`image: previous` needs a shot before, `last_image: next` one after, and two shots must not wait for each other."""
    for i, shot in enumerate(ordered):
        if not _generated(shot):
            continue
        words = generated.neighbours(shot.engine.options)  # type: ignore[union-attr]
        if generated.PREVIOUS in words.values() and i == 0:
            raise ValueError(f"shot {shot.name} is generated from the previous shot's last frame, but it opens the sequence")
        if generated.NEXT in words.values():
            if i == len(ordered) - 1:
                raise ValueError(f"shot {shot.name} is generated to end on the next shot's first frame, but it ends the sequence")
            after = ordered[i + 1]
            if _generated(after) and generated.PREVIOUS in generated.neighbours(after.engine.options).values():  # type: ignore[union-attr]
                raise ValueError(
                    f"shot {shot.name} ends on {after.name}'s first frame and {after.name} starts from {shot.name}'s "
                    "last frame: each would wait for the other; condition one of them on a store picture"
                )


def _check_source(shot: Shot, scene: Scene) -> None:
    """A shot carries what its scene's engine reads: a camera move, a camera object, or neither."""
    if shot.engine is not None:
        return  # an installed engine checks its own options when it loads the shot
    if scene.blend is not None:
        if shot.blender is None:
            raise ValueError(f"shot {shot.name} uses .blend scene {shot.scene!r}, so it needs blender.camera")
    elif shot.blender is not None:
        raise ValueError(f"shot {shot.name} has blender settings, but scene {shot.scene!r} is not a .blend")
    elif scene.command is None and shot.camera is None:
        raise ValueError(f"shot {shot.name} needs a camera")
