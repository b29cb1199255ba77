"""The scene mapping: which set and camera each clip of a cut is shot with, and the result.

A cut says when shots start and end; it knows nothing of sets or cameras. The
mapping names the scenes and, per clip, which scene and camera it uses:

    {"show": "demo", "sequence": "sq010",
     "scenes": {"dusk": {...a Scene...}},
     "default":  {"scene": "dusk", "camera": {...}},        # any clip not named below
     "by_name":  {"Clip-002": {"camera": {...}}},            # clips with this name
     "by_index": {"2": {"shot": "sh030", "camera": {...}}}}  # the 3rd clip (0-based)

For each clip the rules are layered field by field: default, then by_name,
then by_index (the most specific wins). Record frame 0 of the cut lands on
`first_frame` of the timeline.

Must never read files: it combines models it is given.
"""

from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator

from pipelines.color.cdl import CDL
from pipelines.editorial.cut import ClipEvent, EditorialCut, EditorialError, SourceRange
from pipelines.spec import limits
from pipelines.spec.errors import SpecError, clean_message, field_path
from pipelines.spec.limits import Count, Frame, Label
from pipelines.spec.loading import parse_sequence
from pipelines.spec.scene import Camera, Frozen, Light, Scene
from pipelines.spec.sequence import Continuity, FrameRange, Name, Resolution, Sequence

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class ClipSetup(Frozen):
    """How one clip (or every clip, as the default) is shot; unset fields fall through."""

    scene: Label | None = Field(None, description="Key into the mapping's scenes.")
    camera: Camera | None = None
    shot: Name | None = Field(None, description="The shot's name (default: the clip's name, made safe).")
    handles: Count | None = Field(None, ge=0, le=limits.MAX_HANDLES)
    samples: Count | None = Field(None, ge=1, le=limits.MAX_SAMPLES)
    lights: tuple[Light, ...] | None = Field(None, max_length=limits.MAX_LIGHTS)
    continuity: Continuity | None = None


class SceneMapping(Frozen):
    show: Name
    sequence: Name
    scenes: dict[Name, Scene] = Field(min_length=1, max_length=limits.MAX_SCENES)
    default: ClipSetup | None = None
    by_name: dict[Label, ClipSetup] = Field(
        default_factory=dict, max_length=limits.MAX_SHOTS, description="Rules for clips with this name."
    )
    by_index: dict[Annotated[int, Field(ge=0, le=limits.MAX_SHOTS)], ClipSetup] = Field(
        default_factory=dict, max_length=limits.MAX_SHOTS,
        description="Rules for the clip at this position (0-based, in cut order).",
    )
    first_frame: Frame = Field(1001, description="Timeline frame of the cut's record frame 0.")
    handles: Count = Field(8, ge=0, le=limits.MAX_HANDLES, description="Handles of every shot unless a rule says otherwise.")
    fps: Fraction | None = Field(None, description="Frame rate of an EDL (which has none); default 24.")
    start_timecode: str | None = Field(None, max_length=11, description="Used when the cut carries no start timecode.")
    resolution: Resolution = (1920, 1080)
    samples: Count = Field(16, ge=1, le=limits.MAX_SAMPLES)
    bounces: Count = Field(3, ge=1, le=limits.MAX_BOUNCES)
    seed: Count = Field(0, ge=0, le=limits.MAX_SEED)
    track: Count = Field(0, ge=0, le=64, description="Which video track holds the shots.")

    @field_validator("fps", mode="before")
    @classmethod
    def _fps(cls, v: object) -> Fraction | None:
        return None if v is None else Sequence._parse_fps(v)


class ShotOrigin(Frozen):
    """Where a shot came from in the cut: the story behind its frame range."""

    shot: str
    clip: str
    clip_index: int
    frames: FrameRange
    source: SourceRange | None = None
    dissolve: int = 0
    grade: CDL | None = None
    notes: tuple[str, ...] = ()


class ImportedCut(Frozen):
    spec: Sequence
    shots: tuple[ShotOrigin, ...]
    warnings: tuple[str, ...] = ()


def parse_mapping(data: Any, source: str = "mapping") -> SceneMapping:
    """A mapping from JSON-like data, with every problem's field path (`by_name.Clip-001.camera`)."""
    if not isinstance(data, dict):
        raise EditorialError(source, [("", f"expected a mapping at the top level, got {type(data).__name__}")])
    try:
        mapping = SceneMapping.model_validate(data)
    except ValidationError as e:
        problems = [(field_path(err["loc"]), clean_message(err)) for err in e.errors()]
        raise EditorialError(source, problems) from None
    problems = [
        (path, f"scene {rule.scene!r} is not one of the mapping's scenes ({', '.join(mapping.scenes)})")
        for path, rule in _rules(mapping)
        if rule.scene is not None and rule.scene not in mapping.scenes
    ]
    if problems:
        raise EditorialError(source, problems)
    return mapping


def _rules(mapping: SceneMapping) -> list[tuple[str, ClipSetup]]:
    rules = [("default", mapping.default)] if mapping.default else []
    rules += [(f"by_name.{k}", v) for k, v in mapping.by_name.items()]
    return rules + [(f"by_index.{k}", v) for k, v in mapping.by_index.items()]


def build_sequence(cut: EditorialCut, mapping: SceneMapping, source: str = "mapping") -> ImportedCut:
    """The cut's clips as shots of a Sequence, shot as the mapping says."""
    _check_rules_match(cut, mapping, source)
    warnings = list(cut.warnings)
    names = _shot_names(cut, mapping, warnings, source)
    shots, origins = [], []
    problems: list[tuple[str, str]] = []
    # A dissolve reaches into both shots' handles: each side needs half of it.
    need = {i: 0 for i in range(len(cut.clips))}
    for i, clip in enumerate(cut.clips):
        if clip.dissolve and i > 0:
            half = (clip.dissolve + 1) // 2
            need[i] = max(need[i], half)
            need[i - 1] = max(need[i - 1], half)
    for i, clip in enumerate(cut.clips):
        rule = _merged(mapping, clip)
        missing = [f for f in ("scene", "camera") if getattr(rule, f) is None]
        if missing:
            problems.append(
                (f"by_index.{clip.index}", f"clip {clip.name!r} (index {clip.index}) has no {' or '.join(missing)}: "
                 "give one in by_name, by_index or default")
            )
            continue
        if mapping.first_frame + clip.record.last > limits.MAX_FRAME:
            problems.append(
                ("first_frame", f"clip {clip.name!r} would end at frame {mapping.first_frame + clip.record.last:,}, "
                 f"past {limits.MAX_FRAME:,} (MAX_FRAME)")
            )
            continue
        frames = FrameRange(first=mapping.first_frame + clip.record.first, last=mapping.first_frame + clip.record.last)
        handles = max(rule.handles if rule.handles is not None else mapping.handles, need[i])
        shot: dict[str, Any] = {
            "name": names[i],
            "scene": rule.scene,
            "frames": frames.model_dump(),
            "handles": handles,
            "camera": rule.camera.model_dump(mode="json") if rule.camera else None,
            "dissolve": clip.dissolve if i > 0 else 0,
        }
        for field in ("samples", "lights", "continuity"):
            if getattr(rule, field) is not None:
                shot[field] = _json(getattr(rule, field))
        if clip.grade is not None:
            shot["grade"] = clip.grade.model_dump(mode="json")
        shots.append(shot)
        origins.append(_origin(names[i], clip, frames, mapping))
    if problems:
        raise EditorialError(source, problems)
    spec = _spec(cut, mapping, shots)
    try:
        sequence = parse_sequence(spec, f"{cut.source} with {source}")
    except SpecError as e:
        raise EditorialError(e.source, e.problems) from None
    return ImportedCut(spec=sequence, shots=tuple(origins), warnings=tuple(warnings))


def _json(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_json(v) for v in value]
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def _spec(cut: EditorialCut, mapping: SceneMapping, shots: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "show": mapping.show,
        "sequence": mapping.sequence,
        "fps": str(cut.fps),
        "resolution": list(mapping.resolution),
        "samples": mapping.samples,
        "bounces": mapping.bounces,
        "seed": mapping.seed,
        "start_timecode": cut.start_timecode or mapping.start_timecode or "01:00:00:00",
        "scenes": {k: v.model_dump(mode="json") for k, v in mapping.scenes.items()},
        "shots": shots,
    }


def _origin(name: str, clip: ClipEvent, frames: FrameRange, mapping: SceneMapping) -> ShotOrigin:
    notes = tuple(
        f"frame {frames.first + n.offset}: {n.text}" + (f" ({n.color.lower()})" if n.color else "") for n in clip.notes
    )
    return ShotOrigin(
        shot=name,
        clip=clip.name,
        clip_index=clip.index,
        frames=frames,
        source=clip.source,
        dissolve=clip.dissolve,
        grade=clip.grade,
        notes=notes,
    )


def _merged(mapping: SceneMapping, clip: ClipEvent) -> ClipSetup:
    layers = [mapping.default, mapping.by_name.get(clip.name), mapping.by_index.get(clip.index)]
    values: dict[str, Any] = {}
    for layer in layers:
        if layer is not None:
            values.update({k: v for k, v in layer if v is not None})
    return ClipSetup.model_construct(**values)


def _check_rules_match(cut: EditorialCut, mapping: SceneMapping, source: str) -> None:
    """A rule that matches no clip is a typo that would silently shoot a clip with the default."""
    names = {c.name for c in cut.clips}
    problems = [
        (f"by_name.{k}", f"no clip of that name in {cut.source} (clips: {_listing(sorted(names))})")
        for k in mapping.by_name
        if k not in names
    ]
    problems += [
        (f"by_index.{k}", f"{cut.source} has {len(cut.clips)} clips (indexes 0-{len(cut.clips) - 1})")
        for k in mapping.by_index
        if k >= len(cut.clips)
    ]
    if problems:
        raise EditorialError(source, problems)


def _listing(names: list[str], most: int = 12) -> str:
    shown = ", ".join(repr(n) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _shot_names(cut: EditorialCut, mapping: SceneMapping, warnings: list[str], source: str) -> list[str]:
    """Names from the rules, else the clip's name made safe, else shNNN; a repeated clip name gets a suffix."""
    explicit = {
        i: rule.shot
        for i, clip in enumerate(cut.clips)
        if (rule := _specific(mapping, clip)) is not None and rule.shot is not None
    }
    repeated = sorted(n for n, k in Counter(explicit.values()).items() if k > 1)
    if repeated:
        raise EditorialError(source, [("by_index", f"shot names given to more than one clip: {', '.join(repeated)}")])
    out: list[str] = []
    taken = set(explicit.values())
    for i, clip in enumerate(cut.clips):
        if i in explicit:
            out.append(explicit[i])
            continue
        base = _safe(clip.name) or f"sh{(i + 1) * 10:03d}"
        name, n = base, 2
        while name in taken:
            name, n = f"{base[:60]}_{n}", n + 1
        if name != base:
            warnings.append(f"clip {clip.name!r} (index {clip.index}) became shot {name}: {base} was taken")
        taken.add(name)
        out.append(name)
    return out


def _specific(mapping: SceneMapping, clip: ClipEvent) -> ClipSetup | None:
    """The clip's own rules (by_name, then by_index over it), without the default."""
    layers = [r for r in (mapping.by_name.get(clip.name), mapping.by_index.get(clip.index)) if r is not None]
    if not layers:
        return None
    values: dict[str, Any] = {}
    for layer in layers:
        values.update({k: v for k, v in layer if v is not None})
    return ClipSetup.model_construct(**values)


def _safe(name: str) -> str:
    cleaned = _UNSAFE.sub("_", name.strip()).lstrip("_.-")
    return cleaned[:64]
