"""Inputs for the editorial tests: the shared sample timelines, EDLs written here, a mapping."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data"


def shared_timeline(name: str) -> Path:
    """A sample timeline from ../shared/data; missing is a skip here and a failure in CI."""
    path = SHARED / name
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI must have shared/ beside the checkout")
        pytest.skip(f"{path} is not here")
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
