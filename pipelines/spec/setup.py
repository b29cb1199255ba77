"""What an engine needs to render one shot, resolved from the sequence.

A ShotSetup is self-contained (the set, the shot's camera and lights, the
quality settings), so a render node needs nothing else and can cache a loaded
engine by the setup's digest.
"""

from __future__ import annotations

import hashlib

from pydantic import Field

from pipelines.spec.scene import Camera, Frozen, Light, Scene
from pipelines.spec.sequence import DEFAULT_ENGINE, Sequence
from pipelines.spec.sources import BlenderShot


class ShotSetup(Frozen):
    shot: str
    engine: str = Field(DEFAULT_ENGINE, description="The engine that renders the shot (Sequence.engine_for).")
    scene: Scene
    camera: Camera | None
    blender: BlenderShot | None = None
    options: dict[str, str | float | int | bool] = Field(default_factory=dict, description="A plug-in engine's own options.")
    lights: tuple[Light, ...]
    resolution: tuple[int, int]
    samples: int = Field(ge=1)
    bounces: int = Field(ge=1)
    seed: int = Field(ge=0)
    cut_first: int = Field(description="Timeline frame that is shot-relative frame 0.")

    def relative(self, frame: int) -> float:
        """Shot-relative frame number for a timeline frame (keyframes use these)."""
        return float(frame - self.cut_first)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


def shot_setup(sequence: Sequence, shot_name: str, default_engine: str = DEFAULT_ENGINE) -> ShotSetup:
    shot = sequence.shot(shot_name)
    scene = sequence.scenes[shot.scene]
    return ShotSetup(
        shot=shot.name,
        engine=sequence.engine_for(shot, default_engine),
        scene=scene,
        camera=shot.camera,
        blender=shot.blender,
        options=dict(shot.engine.options) if shot.engine is not None else {},
        lights=shot.lights if shot.lights is not None else scene.lights,
        resolution=sequence.resolution,
        samples=sequence.samples_for(shot),
        bounces=sequence.bounces,
        seed=sequence.seed,
        cut_first=shot.frames.first,
    )
