"""Every bound an input may reach, in one place.

A farm takes work from many shows, so no single request may cost it
unbounded memory, time or log space. Each number here is checked where the
input is parsed (the spec, the scene mapping, the editorial cut, the farm
config, the raw documents before any of them) and named in the error, so a
TD who hits one reads which limit and what it is. `docs/limits.md` lists
them all; a test keeps that page in step with this module.

The bounds are generous for real work (a feature-length sequence, an 8K
frame, a set of a thousand objects) and far below what would hurt the farm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, Strict

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limit:
    name: str
    value: int | float
    unit: str
    why: str


LIMITS: dict[str, Limit] = {}


def _limit(name: str, value: int | float, unit: str, why: str) -> int | float:
    LIMITS[name] = Limit(name, value, unit, why)
    return value


# -- raw documents, before any parser builds a tree --------------------------

MAX_DOCUMENT_BYTES = int(_limit("MAX_DOCUMENT_BYTES", 8 * MiB, "bytes", "a spec, scene mapping or farm config file"))
MAX_CUT_BYTES = int(_limit("MAX_CUT_BYTES", 16 * MiB, "bytes", "an .otio or .edl cut list"))
MAX_DEPTH = int(_limit("MAX_DEPTH", 32, "levels", "nesting of a spec, mapping or farm config (a spec needs 8)"))
MAX_OTIO_DEPTH = int(_limit("MAX_OTIO_DEPTH", 64, "levels", "nesting of an OpenTimelineIO document"))
MAX_ITEMS = int(_limit("MAX_ITEMS", 10_000, "items", "entries in any one list or mapping of a document"))
MAX_NODES = int(_limit("MAX_NODES", 250_000, "values", "values in a whole document"))
MAX_STRING = int(_limit("MAX_STRING", 4096, "characters", "any one string in a document"))

# -- the timeline --------------------------------------------------------------

MAX_FRAME = int(_limit("MAX_FRAME", 10_000_000, "frame number", "any frame number (115 hours at 24 fps)"))
MAX_SHOT_FRAMES = int(_limit("MAX_SHOT_FRAMES", 50_000, "frames", "frames one shot renders, handles included (35 min at 24 fps)"))
MAX_SEQUENCE_FRAMES = int(_limit("MAX_SEQUENCE_FRAMES", 250_000, "frames", "frames one sequence renders (2.9 hours at 24 fps)"))
MAX_SHOTS = int(_limit("MAX_SHOTS", 2_000, "shots", "shots in a sequence, clips in a cut"))
MAX_HANDLES = int(_limit("MAX_HANDLES", 48, "frames", "handles on each side of a shot"))
MAX_DISSOLVE = int(_limit("MAX_DISSOLVE", 96, "frames", "length of a dissolve"))

# -- sets, cameras and quality ------------------------------------------------

MAX_SCENES = int(_limit("MAX_SCENES", 64, "scenes", "sets in a sequence or mapping"))
MAX_OBJECTS = int(_limit("MAX_OBJECTS", 1_000, "objects", "objects in one scene"))
MAX_MATERIALS = int(_limit("MAX_MATERIALS", 1_000, "materials", "materials in one scene"))
MAX_LIGHTS = int(_limit("MAX_LIGHTS", 64, "lights", "lights in a scene or on a shot"))
MAX_KEYS = int(_limit("MAX_KEYS", 1_000, "keyframes", "camera keys of a shot, motion keys of an object"))
MAX_COORDINATE = float(_limit("MAX_COORDINATE", 1e6, "scene units", "any position, direction or offset component"))
MAX_INTENSITY = float(_limit("MAX_INTENSITY", 1e6, "", "a light's or emitter's intensity"))
MIN_SIDE = int(_limit("MIN_SIDE", 16, "pixels", "smallest frame width or height (must be even: 4:2:0 deliverables)"))
MAX_SIDE = int(_limit("MAX_SIDE", 8192, "pixels", "largest frame width or height (must be even)"))
MAX_SAMPLES = int(_limit("MAX_SAMPLES", 4096, "samples", "samples per pixel"))
MAX_BOUNCES = int(_limit("MAX_BOUNCES", 16, "bounces", "path tracer bounces"))
MAX_SEED = int(_limit("MAX_SEED", 2**31 - 1, "", "the sequence's random seed"))

# -- words ---------------------------------------------------------------------

MAX_LABEL = int(_limit("MAX_LABEL", 128, "characters", "object, material and scene names, continuity labels, clip names"))
MAX_TEXT = int(_limit("MAX_TEXT", 1024, "characters", "free text: continuity location, marker notes, reasons"))
MAX_TAGS = int(_limit("MAX_TAGS", 256, "entries", "props, wardrobe entries, markers on one clip"))

# -- the farm config -----------------------------------------------------------

MAX_CLASSES = int(_limit("MAX_CLASSES", 64, "classes", "node classes in a farm config"))
MAX_SUBSCRIPTIONS = int(_limit("MAX_SUBSCRIPTIONS", 1_000, "subscriptions", "show subscriptions in a farm config"))
MAX_CLASS_NODES = int(_limit("MAX_CLASS_NODES", 10_000, "nodes", "nodes of one class"))
MAX_PRICE = float(_limit("MAX_PRICE", 10_000.0, "USD/hour", "price of one node-hour"))
MAX_SPEED = float(_limit("MAX_SPEED", 1_000.0, "", "a class's speed relative to a speed-1.0 node"))
MAX_SECONDS = float(_limit("MAX_SECONDS", 7 * 86_400.0, "seconds", "any duration in a config (a week)"))
MAX_BUDGET = float(_limit("MAX_BUDGET", 10_000_000.0, "USD", "a sequence's budget"))

# -- types the models share ------------------------------------------------------

Count = Annotated[int, Strict()]
"""An integer that a JSON `true` or `1.0` is not (booleans are not numbers)."""
Real = Annotated[float, Strict(), Field(allow_inf_nan=False)]
"""A finite number (no NaN, no infinity, no boolean); ints are welcome."""
Coordinate = Annotated[float, Strict(), Field(ge=-MAX_COORDINATE, le=MAX_COORDINATE, allow_inf_nan=False)]
Label = Annotated[str, Field(min_length=1, max_length=MAX_LABEL)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
Frame = Annotated[int, Strict(), Field(ge=0, le=MAX_FRAME)]
KeyFrame = Annotated[float, Strict(), Field(ge=-MAX_FRAME, le=MAX_FRAME, allow_inf_nan=False)]
"""A shot-relative keyframe position (may sit before the cut, in the handles)."""


# Which limit a field's bound is, so an error can name it (the messages pydantic
# writes give the number only). Keyed by the field's own name in the models.
FIELD_LIMITS = {
    "first": "MAX_FRAME", "last": "MAX_FRAME", "first_frame": "MAX_FRAME", "frame": "MAX_FRAME",
    "shots": "MAX_SHOTS", "clips": "MAX_SHOTS", "by_name": "MAX_SHOTS", "by_index": "MAX_SHOTS",
    "handles": "MAX_HANDLES", "dissolve": "MAX_DISSOLVE", "scenes": "MAX_SCENES",
    "objects": "MAX_OBJECTS", "materials": "MAX_MATERIALS", "lights": "MAX_LIGHTS",
    "keys": "MAX_KEYS", "motion": "MAX_KEYS", "resolution": "MAX_SIDE", "samples": "MAX_SAMPLES",
    "bounces": "MAX_BOUNCES", "seed": "MAX_SEED", "intensity": "MAX_INTENSITY", "color": "MAX_INTENSITY",
    "albedo": "MAX_INTENSITY", "zenith": "MAX_INTENSITY", "horizon": "MAX_INTENSITY",
    "center": "MAX_COORDINATE", "position": "MAX_COORDINATE", "look_at": "MAX_COORDINATE", "offset": "MAX_COORDINATE",
    "point": "MAX_COORDINATE", "normal": "MAX_COORDINATE", "direction": "MAX_COORDINATE", "corner": "MAX_COORDINATE",
    "u": "MAX_COORDINATE", "v": "MAX_COORDINATE", "min": "MAX_COORDINATE", "max": "MAX_COORDINATE",
    "a": "MAX_COORDINATE", "b": "MAX_COORDINATE",
    "name": "MAX_LABEL", "material": "MAX_LABEL", "scene": "MAX_LABEL", "subject": "MAX_LABEL",
    "time_of_day": "MAX_LABEL", "props": "MAX_TAGS", "wardrobe": "MAX_TAGS", "notes": "MAX_TAGS",
    "location": "MAX_TEXT", "text": "MAX_TEXT", "budget_usd": "MAX_BUDGET",
    "classes": "MAX_CLASSES", "subscriptions": "MAX_SUBSCRIPTIONS", "count": "MAX_CLASS_NODES",
    "usd_per_hour": "MAX_PRICE", "speed": "MAX_SPEED", "forgive_after": "MAX_SECONDS",
    "target_chunk_seconds": "MAX_SECONDS",
}
_UPPER_BOUNDS = {"less_than_equal", "less_than", "too_long", "string_too_long"}


def named(error_type: str, loc: tuple[int | str, ...], message: str) -> str:
    """A bound's message with the limit it is, when it is one of ours: `... 10000000 (MAX_FRAME)`."""
    if error_type not in _UPPER_BOUNDS:
        return message
    field = next((p for p in reversed(loc) if isinstance(p, str) and p in FIELD_LIMITS), None)
    if field is None:
        return message
    name = FIELD_LIMITS[field]
    return f"{message} ({name}, see docs/limits.md)"


def too_many(what: str, count: int, limit_name: str) -> str:
    """The sentence an error gives when a whole exceeds its limit."""
    return f"{what}: {count:,} is over the limit of {LIMITS[limit_name].value:,} ({limit_name})"
