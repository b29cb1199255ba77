"""Inputs for the editorial tests: sample timelines built with the OTIO API, EDLs written here, a mapping."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import opentimelineio as otio

HERE = Path(__file__).parent / "data"
_BUILT = Path(tempfile.mkdtemp(prefix="shotfarm-timelines-"))


def _range(start: float, duration: float, rate: float = 24) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(duration, rate))


def _simple_cut() -> otio.schema.Timeline:
    """Four clips cut end to end; the last has no source range and plays its media's available range."""
    track = otio.schema.Track(name="Track-001")
    clips = [
        ("Clip-001", "titles", _range(3, 3), _range(0, 8)),
        ("Clip-002", "wind-up", _range(2, 6), _range(0, 8)),
        ("Clip-003", "punchline", _range(0, 4), _range(0, 8)),
        ("Clip-004", "credits", None, _range(100, 6)),
    ]
    for n, (name, media, source, available) in enumerate(clips, start=1):
        ref = otio.schema.ExternalReference(target_url=f"file:///folder/{media}.mov", available_range=available)
        ref.name = f"Media-{n:03d}"
        track.append(otio.schema.Clip(name=name, media_reference=ref, source_range=source))
    return otio.schema.Timeline(name="Figure 1 - Simple Cut List", tracks=[track])


def _transition_test() -> otio.schema.Timeline:
    """Three 50-frame clips: a dissolve between A and B, and fades from and to nothing at the ends."""
    track = otio.schema.Track(name="Sequence1")

    def dissolve(name: str) -> otio.schema.Transition:
        ten = otio.opentime.RationalTime(10, 24)
        return otio.schema.Transition(
            name=name, transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve, in_offset=ten, out_offset=ten
        )

    for item in (dissolve("t0"), "A", dissolve("t1"), "B", "C", dissolve("t3")):
        track.append(otio.schema.Clip(name=item, source_range=_range(0, 50)) if isinstance(item, str) else item)
    return otio.schema.Timeline(name="transition_test", tracks=[track])


_SAMPLES = {"simple_cut.otio": _simple_cut, "transition_test.otio": _transition_test}


def sample_timeline(name: str) -> Path:
    """A sample timeline built here with OpenTimelineIO's own API and written as .otio (JSON)."""
    path = _BUILT / name
    if not path.is_file():
        otio.adapters.write_to_file(_SAMPLES[name](), str(path))
    return path


def camera(angle: float) -> dict[str, Any]:
    a = math.radians(angle)
    return {"keys": [{"frame": 0, "position": [round(6 * math.sin(a), 4), 1.2, round(6 * math.cos(a), 4)],
                      "look_at": [0, 1, 0], "fov": 35}]}


def mapping(**extra: Any) -> dict[str, Any]:
    """One set, every clip shot with the default camera unless `extra` says otherwise."""
    base: dict[str, Any] = {
        "show": "demo",
        "sequence": "cut010",
        "resolution": [32, 18],
        "samples": 2,
        "scenes": {
            "set": {
                "materials": {"grey": {"type": "diffuse"}, "lamp": {"type": "emissive", "intensity": 6}},
                "objects": [
                    {"type": "plane", "name": "ground", "material": "grey"},
                    {"type": "sphere", "name": "orb", "center": [0, 1, 0], "radius": 1, "material": "lamp"},
                ],
                "lights": [{"type": "sky", "intensity": 0.5}],
                "subject": "orb",
            }
        },
        "default": {"scene": "set", "camera": camera(0)},
    }
    return base | extra
