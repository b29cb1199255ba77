"""A generated shot's setup and a store to hand the engine, for the diffusion tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipelines.render.engines.base import EngineContext
from pipelines.render.engines.diffusion import INFO
from pipelines.spec.scene import Scene
from pipelines.spec.setup import ShotSetup

SIZE = (32, 32)
# A generated shot still names a set (the sequence's scenes); the engine never reads it.
SET = Scene.model_validate(
    {"materials": {"ground": {"type": "diffuse", "albedo": [0.3, 0.3, 0.3]}}, "objects": [{"type": "plane", "name": "ground", "material": "ground"}]}
)


def setup(model: Path | str, shot: str = "sh020", resolution: tuple[int, int] = SIZE, **options) -> ShotSetup:
    given = {"model": str(model), "prompt": "a figure walks in rain at dusk", "steps": 2} | options
    return ShotSetup(
        shot=shot, engine="diffusion", scene=SET, camera=None, options=given, lights=(), resolution=resolution,
        samples=1, bounces=1, seed=0, cut_first=1001,
    )


class Store:
    """The farm's store as the engine sees it: store:KEY -> bytes."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.reads = 0

    def fetch(self, ref: str) -> bytes:
        """As a render node reads it: KEY, or KEY@SHA256 checked against that digest."""
        self.reads += 1
        key, _, digest = ref.removeprefix("store:").partition("@")
        data = self.objects[key]
        if digest and hashlib.sha256(data).hexdigest() != digest:
            raise ValueError(f"{key}: its bytes do not hash to {digest}")
        return data


def engine(tmp_path: Path, store: Store | None = None):
    return INFO.build(EngineContext(scratch=tmp_path, fetch=store.fetch if store else None, threads=1))
