"""The built-in path tracer as an engine plug-in: its declaration and its Engine adapter.

The tracer (pipelines.render.engines.pathtracer) renders one frame of a spec
scene; this adapter gives it the farm's Engine protocol and reports, with
every frame, what the continuity rules watch, computed from the spec exactly:

- the camera that looked: the shot's camera at that frame, as
  `CameraPose.looking(position, look_at, fov)`;
- `objects`: the scene's subject under its own object name (its centre,
  motion included), and, when the set has a line of action, its two ground
  points under `action_axis.a` and `action_axis.b` (AXIS_ENDS).

This module is read by `shotfarm engines` and must not import torch at
module level: the tracer and its maths load only when an engine is built.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

from pipelines.render.engines.base import CAMERA, OBJECTS, PIXELS, CameraPose, EngineContext, EngineInfo, RenderedFrame
from pipelines.spec.base import Vec3
from pipelines.spec.setup import ShotSetup

NAME = "pathtracer"
AXIS_ENDS = ("action_axis.a", "action_axis.b")
"""Names the line of action's ground points are reported under (a spec scene's axis has no objects)."""


class PathTracerEngine:
    """The built-in tracer behind the Engine protocol: loaded once per shot setup, frames in order."""

    name = NAME

    def __init__(self, context: EngineContext) -> None:
        import torch

        from pipelines.render.engines.pathtracer import PathTracer

        # torch's pool is per process, and a node is one process per core: more threads would fight its neighbours.
        torch.set_num_threads(max(1, context.threads))
        self._new_tracer = lambda: PathTracer(context.device)
        self._tracer = self._new_tracer()
        self._setup: ShotSetup | None = None
        self._attributes = {"torch": torch.__version__, "device": context.device}

    def load(self, setup: ShotSetup) -> None:
        if setup.scene.external or setup.camera is None:
            raise ValueError(
                f"shot {setup.shot}: the path tracer renders spec scenes with a spec camera; "
                "this shot's scene is a studio file or it has no camera"
            )
        self._tracer.load(setup)
        self._setup = setup

    def render_chunk(self, first: int, last: int) -> Iterator[RenderedFrame]:
        setup = self._setup
        if setup is None:
            raise RuntimeError("load a shot setup before rendering")
        attributes = {**self._attributes, "samples": str(setup.samples), "bounces": str(setup.bounces), "seed": str(setup.seed)}
        for frame in range(first, last + 1):
            pixels = self._tracer.render(frame).numpy()
            yield RenderedFrame(
                frame=frame, pixels=pixels, camera=camera_at(setup, frame), objects=watched_at(setup, frame), attributes=attributes
            )

    def close(self) -> None:
        # A fresh, unloaded tracer lets the loaded scene's tensors (device memory included) go.
        self._tracer = self._new_tracer()
        self._setup = None


def camera_at(setup: ShotSetup, frame: int) -> CameraPose:
    """The pose the tracer renders timeline `frame` from (the spec camera, interpolated)."""
    if setup.camera is None:
        raise ValueError(f"shot {setup.shot} has no camera")
    key = setup.camera.at(setup.relative(frame))
    return CameraPose.looking(key.position, key.look_at, key.fov)


def watched_at(setup: ShotSetup, frame: int) -> dict[str, Vec3]:
    """The subject's centre under its object name and the line of action's ends, at timeline `frame`."""
    from pipelines.continuity.geometry import subject_centre, subject_of

    out: dict[str, Vec3] = {}
    subject = subject_of(setup.scene)
    if subject is not None:
        out[subject.name] = subject_centre(subject, setup.relative(frame))
    axis = setup.scene.action_axis
    if axis is not None:
        out[AXIS_ENDS[0]], out[AXIS_ENDS[1]] = axis.a, axis.b
    return out


def _build(context: EngineContext) -> PathTracerEngine:
    return PathTracerEngine(context)


def _probe() -> str | None:
    # find_spec looks for torch without importing it: listing engines stays instant.
    return None if importlib.util.find_spec("torch") is not None else "torch is not installed"


INFO = EngineInfo(
    name=NAME,
    summary="The farm's built-in path tracer (torch): spec scenes of spheres, boxes and planes, sun, sky and area lights",
    build=_build,
    devices=("cpu", "cuda"),
    reads=("scene", "camera", "lights", "samples", "bounces", "seed"),
    returns=(PIXELS, CAMERA, OBJECTS),
    probe=_probe,
)
