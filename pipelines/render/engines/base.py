"""What an engine is: the protocol every renderer of the farm implements, and what it returns per frame.

An engine is a plug-in found by name in the `shotfarm.engines` entry-point
group (pipelines.render.engines.registry). The entry point names an
`EngineInfo`: what the engine needs (device kinds, an isolated environment,
the shot fields it reads), what it returns, whether it can run on this
machine, and how to build it. Building is separate from describing so that
`shotfarm engines` and the coordinator can list engines without importing
a heavy runtime.

A render node keeps one engine loaded per shot setup between chunks (scene
parsed, a file open in a warm process, buffers on the device), so `load` is
the expensive call and `render_chunk` yields frames. Engines return
scene-linear ACEScg float32, never display values, with the camera that
looked and, where they have them, depth and the positions of the objects the
continuity rules watch.

This module must never import an engine's runtime (torch included): it is
read by the thin CLI.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pipelines.spec.base import Vec3
from pipelines.spec.setup import ShotSetup

ENTRY_POINT_GROUP = "shotfarm.engines"

# What an engine may say it returns with each frame.
PIXELS, CAMERA, DEPTH, OBJECTS = "pixels", "camera", "depth", "objects"


@dataclass(frozen=True)
class CameraPose:
    """The camera that rendered a frame, in the farm's world (Y up, metres).

    `world_to_camera` is a row-major 4x4 acting on column vectors (the
    translation is its last column; the camera looks down its -Z, +Y up).
    OpenEXR's standard `worldToCamera` header attribute holds it in Imath's
    row-vector convention with the standard's left-handed camera (+Z forward):
    see `exr_matrix`.
    """

    world_to_camera: tuple[float, ...]
    fov: float
    """Vertical field of view in degrees."""
    focal_mm: float | None = None
    sensor_mm: tuple[float, float] | None = None
    """Sensor width and height in millimetres."""

    def __post_init__(self) -> None:
        if len(self.world_to_camera) != 16 or not all(math.isfinite(v) for v in self.world_to_camera):
            raise ValueError("world_to_camera must be 16 finite numbers (a row-major 4x4)")
        if not 0 < self.fov < 180:
            raise ValueError(f"a vertical field of view of {self.fov} degrees is not a camera")

    @property
    def _rotation(self) -> tuple[Vec3, Vec3, Vec3]:
        m = self.world_to_camera
        # Rows of the world-to-camera rotation are the camera's axes in world space.
        return (m[0], m[1], m[2]), (m[4], m[5], m[6]), (m[8], m[9], m[10])

    @property
    def position(self) -> Vec3:
        """Where the camera is: -R^T t for world_to_camera = [R | t]."""
        m = self.world_to_camera
        x, y, z = self._rotation
        t = (m[3], m[7], m[11])
        return (
            -(x[0] * t[0] + y[0] * t[1] + z[0] * t[2]),
            -(x[1] * t[0] + y[1] * t[1] + z[1] * t[2]),
            -(x[2] * t[0] + y[2] * t[1] + z[2] * t[2]),
        )

    @property
    def exr_matrix(self) -> tuple[tuple[float, float, float, float], ...]:
        """The rows of OpenEXR's `worldToCamera`, as the standard defines it.

        Imath multiplies row vectors (p' = p M, translation in the last row),
        and the standard's camera space is left-handed: x right, y up, +z
        the viewing direction. So this is (S W)^T, S flipping our camera's z
        (which points backwards) and W our column-vector world_to_camera.
        """
        m = self.world_to_camera
        return tuple((m[c], m[4 + c], -m[8 + c], m[12 + c]) for c in range(4))  # type: ignore[return-value]

    @property
    def forward(self) -> Vec3:
        """Unit direction the camera looks along (its -Z in world space)."""
        z = self._rotation[2]
        return (-z[0], -z[1], -z[2])

    @property
    def up(self) -> Vec3:
        return self._rotation[1]

    @classmethod
    def looking(cls, position: Vec3, look_at: Vec3, fov: float, up: Vec3 = (0.0, 1.0, 0.0), **extra: Any) -> CameraPose:
        """The pose of a camera at `position` aimed at `look_at`, kept upright."""
        f = _unit(tuple(b - a for a, b in zip(position, look_at)))  # type: ignore[arg-type]
        r = _unit(_cross(f, up))
        u = _cross(r, f)
        back = (-f[0], -f[1], -f[2])
        rows = (r, u, back)
        t = tuple(-sum(row[i] * position[i] for i in range(3)) for row in rows)
        m = (*rows[0], t[0], *rows[1], t[1], *rows[2], t[2], 0.0, 0.0, 0.0, 1.0)
        return cls(world_to_camera=tuple(float(v) for v in m), fov=fov, **extra)


def _cross(a: Vec3, b: Vec3) -> Vec3:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _unit(v: Vec3) -> Vec3:
    n = math.sqrt(v[0] ** 2 + v[1] ** 2 + v[2] ** 2)
    if n == 0:
        raise ValueError("a camera needs a direction to look in")
    return (v[0] / n, v[1] / n, v[2] / n)


@dataclass(frozen=True, eq=False)
class RenderedFrame:
    """One frame as an engine returns it."""

    frame: int
    """Timeline frame."""
    pixels: Any
    """(height, width, 3) float32 scene-linear ACEScg: a numpy array or a CPU torch tensor."""
    camera: CameraPose | None = None
    depth: Any = None
    """(height, width) float32 distance along the view axis, where the engine has it."""
    objects: Mapping[str, Vec3] = field(default_factory=dict)
    """World positions of the objects the continuity rules watch (the subject, the line of action's ends)."""
    attributes: Mapping[str, str] = field(default_factory=dict)
    """Provenance for the EXR header: engine version, colour conversion, render settings."""


class Engine(Protocol):
    """A loaded renderer. Not thread-safe; one per render slot."""

    name: str

    def load(self, setup: ShotSetup) -> None:
        """Prepare to render frames of this shot; may be called again with another.

        Raises ValueError or KeyError for a shot it can never render (a
        missing file, object or option): the farm fails the chunk for good.
        Anything else is treated as transient and the chunk is retried.
        """

    def render_chunk(self, first: int, last: int) -> Iterator[RenderedFrame]:
        """Render timeline frames first..last of the loaded shot, in order."""

    def close(self) -> None:
        """Release what the engine holds (processes, device memory). Safe to call twice."""


@dataclass(frozen=True)
class EngineContext:
    """What a render node gives the engine it builds."""

    device: str = "cpu"
    """A torch device name: "cpu", "cuda"."""
    scratch: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))
    """A folder private to this node for the engine's temporary files."""
    fetch: Callable[[str], bytes] | None = None
    """Reads a key from the farm's object store, digest-checked (for scene files given as store:KEY)."""
    threads: int = 1
    """CPU threads the engine may use."""


@dataclass(frozen=True)
class EngineInfo:
    """What an installed engine declares, read without building it."""

    name: str
    summary: str
    build: Callable[[EngineContext], Engine]
    """engine = build(context): cheap; the work starts at load."""
    devices: tuple[str, ...] = ("cpu",)
    """Device kinds it can render on."""
    environment: str | None = None
    """The isolated environment it runs in, e.g. a venv path; None: the farm's own."""
    reads: tuple[str, ...] = ()
    """Shot fields it reads (e.g. blender.camera, scene.blend)."""
    returns: tuple[str, ...] = (PIXELS,)
    probe: Callable[[], str | None] = field(default=lambda: None)
    """None when usable on this machine, else why not (a missing environment, a missing program)."""

    def why_unusable(self) -> str | None:
        try:
            return self.probe()
        except Exception as e:  # a broken probe says the engine is broken, it does not break the listing
            return f"its probe failed: {type(e).__name__}: {e}"
