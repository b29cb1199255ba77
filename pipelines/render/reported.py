"""What an engine reported about a frame, carried in the frame's EXR header.

The continuity check runs on another node, later, from the stored frame
alone, so the camera that looked and the watched objects' positions travel
with the pixels: `shotfarm/camera` and `shotfarm/objects` (JSON, exact to
the float) beside the standard `worldToCamera` matrix any EXR reader knows.

This module must never render, read files or import an engine's runtime.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.render.engines.base import CameraPose, RenderedFrame
from pipelines.spec.base import Vec3

CAMERA, OBJECTS, ENGINE = "camera", "objects", "engine"
"""Attribute names under the codec's shotfarm/ prefix."""
_MAX_OBJECTS = 64
_PREFIX = "shotfarm/"


@dataclass(frozen=True)
class Reported:
    camera: CameraPose | None = None
    objects: Mapping[str, Vec3] = field(default_factory=dict)


def attributes_of(frame: RenderedFrame) -> dict[str, str]:
    """The frame's report as custom attributes (names without the shotfarm/ prefix)."""
    out: dict[str, str] = {}
    if frame.camera is not None:
        cam = frame.camera
        out[CAMERA] = json.dumps(
            {
                "world_to_camera": list(cam.world_to_camera),
                "fov": cam.fov,
                "focal_mm": cam.focal_mm,
                "sensor_mm": list(cam.sensor_mm) if cam.sensor_mm else None,
            },
            separators=(",", ":"),
        )
    if frame.objects:
        out[OBJECTS] = json.dumps({k: list(v) for k, v in sorted(frame.objects.items())}, separators=(",", ":"))
    return out


def reported(header: Mapping[str, Any]) -> Reported:
    """The report in a decoded frame header; empty where the frame carries none or a damaged one."""
    return Reported(camera=_camera(header.get(_PREFIX + CAMERA)), objects=_objects(header.get(_PREFIX + OBJECTS)))


def _camera(text: object) -> CameraPose | None:
    if not isinstance(text, str | bytes):
        return None
    try:
        raw = json.loads(text)
        sensor = raw.get("sensor_mm")
        return CameraPose(
            world_to_camera=tuple(float(v) for v in raw["world_to_camera"]),
            fov=float(raw["fov"]),
            focal_mm=None if raw.get("focal_mm") is None else float(raw["focal_mm"]),
            sensor_mm=None if not sensor else (float(sensor[0]), float(sensor[1])),
        )
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None  # a frame without a usable camera is judged on pixels only


def _objects(text: object) -> dict[str, Vec3]:
    if not isinstance(text, str | bytes):
        return {}
    try:
        raw = json.loads(text)
        out = {}
        for name, p in list(raw.items())[:_MAX_OBJECTS]:
            v = (float(p[0]), float(p[1]), float(p[2]))
            if all(math.isfinite(c) for c in v):
                out[str(name)[:128]] = v
        return out
    except (ValueError, TypeError, IndexError, AttributeError):
        return {}
