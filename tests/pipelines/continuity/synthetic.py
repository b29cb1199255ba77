"""Synthetic cuts for the continuity tests: small specs and HDR frames built from numbers.

A frame is a lit-set-like ACEScg picture: a smooth log-normal luminance field
(about 1.2 stops of spread) under coloured materials, deterministic per seed.
`mirrored` gives the same content with the same statistics, so a planted
change is the only difference across a cut.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
from PIL import Image

from pipelines.color.cdl import CDL
from pipelines.continuity.cut import Cut
from pipelines.spec.sequence import Sequence
from tests.builders import sequence, shot, spec

TAGS = {"location": "quarry", "time_of_day": "noon"}
SUN = {"type": "sun", "direction": [0.3, 0.8, 0.4], "kelvin": 5600, "intensity": 3.0}
SKY = {"type": "sky", "intensity": 0.5}


def frame(seed: int = 0, h: int = 54, w: int = 96) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0.0, 1.0, size=(6, 10)).astype(np.float32)
    field = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC))
    luminance = np.exp2(-2.0 + 1.2 * field / max(float(field.std()), 1e-6))
    tint_coarse = rng.uniform(0.6, 1.4, size=(4, 6, 3)).astype(np.float32)
    tint = np.stack(
        [np.asarray(Image.fromarray(tint_coarse[..., c]).resize((w, h), Image.Resampling.BILINEAR)) for c in range(3)],
        axis=-1,
    )
    grain = np.exp(rng.normal(0.0, 0.05, size=(h, w, 3))).astype(np.float32)
    return (luminance[..., None] * tint * grain).astype(np.float32)


def mirrored(px: np.ndarray) -> np.ndarray:
    """The same picture flopped: a different frame with identical statistics."""
    return np.ascontiguousarray(px[:, ::-1])


def camera(position: tuple[float, float, float], look_at=(0.0, 1.0, 0.0), fov: float = 35.0, frame: int = 0) -> dict:
    return {"frame": frame, "position": list(position), "look_at": list(look_at), "fov": fov}


def two_shots(
    left: dict[str, Any] | None = None,
    right: dict[str, Any] | None = None,
    scene: dict[str, Any] | None = None,
    right_scene: str = "set",
    **top: Any,
) -> Sequence:
    """sh010 (1001-1024) and sh020 (1025-1048) on one set at one location and time of day.

    `left`/`right` add or replace shot fields; `scene` replaces fields of the
    set; `right_scene="other"` puts sh020 on a copy of the set under another
    scene name (same location tags: a cut the renderer does not vouch for).
    """
    base = {"continuity": dict(TAGS), "camera": {"keys": [camera((0.0, 1.2, 6.0))]}}
    a = shot("sh010", 1001, 1024) | base | (left or {})
    b = shot("sh020", 1025, 1048) | {"continuity": dict(TAGS), "camera": {"keys": [camera((4.0, 1.2, 4.5))]}}
    b |= right or {}
    data = spec(a, b, **top)
    data["scenes"]["set"]["lights"] = [SUN, SKY]
    data["scenes"]["set"].update(scene or {})
    if right_scene != "set":
        data["scenes"][right_scene] = copy.deepcopy(data["scenes"]["set"])
        data["shots"][1]["scene"] = right_scene
    return sequence(*data["shots"], **{k: v for k, v in data.items() if k not in ("shots",)})


def cut_of(seq: Sequence, left_px: np.ndarray | None, right_px: np.ndarray | None) -> Cut:
    names = [s.name for s in seq.timeline]
    return Cut.between(seq, names[0], names[1], left_px, right_px)


def graded(cdl: CDL) -> dict[str, Any]:
    """Shot fields giving the shot this grade."""
    return {"grade": cdl.model_dump(mode="json")}


def regraded(cut: Cut, cdl: CDL | None) -> Cut:
    """The cut with the right shot mastered under `cdl` instead of its grade (a Grade fix applied)."""
    shot = cut.right.shot.model_copy(update={"grade": cdl})
    return Cut(cut.left, dataclasses.replace(cut.right, shot=shot))


def findings_of(cut: Cut, rule: str) -> list:
    from pipelines.continuity.check import check_cut

    return [f for f in check_cut(cut) if f.rule == rule]
