"""The built-in renderer's scene: geometry, materials, lights and cameras.

Everything here is plain data in scene-linear ACEScg. The models are frozen so
that a shot spec can be hashed, cached in a warm render node, and patched only
by building a new one (continuity fixes do exactly that).
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from pipelines.spec.base import ActionAxis, Frozen, Vec3
from pipelines.spec.limits import (
    MAX_INTENSITY,
    MAX_KEYS,
    MAX_LIGHTS,
    MAX_MATERIALS,
    MAX_OBJECTS,
    KeyFrame,
    Label,
    Real,
)
from pipelines.spec.sources import BlendFile, CommandSet

_Channel = Annotated[Real, Field(ge=0, le=MAX_INTENSITY)]
RGB = tuple[_Channel, _Channel, _Channel]
Intensity = Annotated[Real, Field(ge=0, le=MAX_INTENSITY)]
Kelvin = Annotated[Real, Field(ge=1000, le=40000)]


# -- materials ---------------------------------------------------------------


class Diffuse(Frozen):
    type: Literal["diffuse"] = "diffuse"
    albedo: RGB = (0.5, 0.5, 0.5)


class Emissive(Frozen):
    type: Literal["emissive"] = "emissive"
    color: RGB = (1.0, 1.0, 1.0)
    intensity: Intensity = Field(1.0, description="Radiance = color x intensity.")


class Glossy(Frozen):
    type: Literal["glossy"] = "glossy"
    albedo: RGB = (0.5, 0.5, 0.5)
    roughness: Real = Field(0.2, ge=0, le=1, description="0 is a mirror, 1 is nearly diffuse.")
    specular: Real = Field(0.04, ge=0, le=1, description="Reflectance at normal incidence.")


Material = Annotated[Diffuse | Emissive | Glossy, Field(discriminator="type")]


# -- geometry ----------------------------------------------------------------


class MotionKey(Frozen):
    """An object's offset from its rest position at a shot-relative frame."""

    frame: KeyFrame
    offset: Vec3


class _Object(Frozen):
    name: Label
    material: Label = Field(description="Key into Scene.materials.")
    motion: tuple[MotionKey, ...] = Field(
        (), max_length=MAX_KEYS, description="Offset keyframes, interpolated per frame; empty means static."
    )


class Sphere(_Object):
    type: Literal["sphere"] = "sphere"
    center: Vec3
    radius: Real = Field(gt=0, le=1e6)


class Plane(_Object):
    type: Literal["plane"] = "plane"
    point: Vec3 = (0.0, 0.0, 0.0)
    normal: Vec3 = (0.0, 1.0, 0.0)

    @field_validator("normal")
    @classmethod
    def _nonzero(cls, v: Vec3) -> Vec3:
        if sum(c * c for c in v) == 0:
            raise ValueError("normal must not be the zero vector")
        return v


class Box(_Object):
    type: Literal["box"] = "box"
    min: Vec3
    max: Vec3

    @model_validator(mode="after")
    def _ordered(self) -> Box:
        if any(lo >= hi for lo, hi in zip(self.min, self.max)):
            raise ValueError("box min must be below max on every axis")
        return self


SceneObject = Annotated[Sphere | Plane | Box, Field(discriminator="type")]


# -- lights ------------------------------------------------------------------


class Sun(Frozen):
    type: Literal["sun"] = "sun"
    direction: Vec3 = Field(description="Points from the scene towards the sun.")
    kelvin: Kelvin = 5600.0
    intensity: Intensity = Field(3.0, description="Irradiance on a surface facing the sun.")
    angle: Real = Field(0.5, ge=0, le=45, description="Angular diameter in degrees (soft shadows).")


class Sky(Frozen):
    """A sky dome, radiance horizon + (zenith - horizon) * max(0, up) along a ray
    (the horizon colour continues below the horizon); uniform when they match."""

    type: Literal["sky"] = "sky"
    zenith: RGB = (0.3, 0.45, 0.8)
    horizon: RGB = (0.8, 0.85, 0.9)
    intensity: Intensity = 1.0


class Area(Frozen):
    """A one-sided rectangle emitting along cross(u, v)."""

    type: Literal["area"] = "area"
    corner: Vec3
    u: Vec3
    v: Vec3
    kelvin: Kelvin = 3200.0
    intensity: Intensity = Field(10.0, description="Emitted radiance.")


Light = Annotated[Sun | Sky | Area, Field(discriminator="type")]


# -- camera ------------------------------------------------------------------


class CameraKey(Frozen):
    """Camera pose at a shot-relative frame (0 is the shot's first cut frame)."""

    frame: KeyFrame
    position: Vec3
    look_at: Vec3
    fov: Real = Field(40.0, gt=1, lt=170, description="Vertical field of view in degrees.")

    @model_validator(mode="after")
    def _looks_somewhere(self) -> CameraKey:
        if self.position == self.look_at:
            raise ValueError("camera position and look_at must differ")
        return self


class Camera(Frozen):
    keys: tuple[CameraKey, ...] = Field(min_length=1, max_length=MAX_KEYS)

    @field_validator("keys")
    @classmethod
    def _sorted(cls, keys: tuple[CameraKey, ...]) -> tuple[CameraKey, ...]:
        frames = [k.frame for k in keys]
        if len(set(frames)) != len(frames):
            raise ValueError("camera keyframes must have distinct frames")
        return tuple(sorted(keys, key=lambda k: k.frame))

    def at(self, frame: float) -> CameraKey:
        """Pose at a shot-relative frame; linear between keys, held outside them."""
        keys = self.keys
        if frame <= keys[0].frame:
            return keys[0]
        if frame >= keys[-1].frame:
            return keys[-1]
        for a, b in zip(keys, keys[1:]):
            if a.frame <= frame <= b.frame:
                t = (frame - a.frame) / (b.frame - a.frame)
                return CameraKey(
                    frame=frame,
                    position=_lerp(a.position, b.position, t),
                    look_at=_lerp(a.look_at, b.look_at, t),
                    fov=a.fov + (b.fov - a.fov) * t,
                )
        raise AssertionError("unreachable: keys are sorted")


def _lerp(a: Vec3, b: Vec3, t: float) -> Vec3:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def offset_at(motion: tuple[MotionKey, ...], frame: float) -> Vec3:
    """An object's motion offset at a shot-relative frame (zero when static)."""
    if not motion:
        return (0.0, 0.0, 0.0)
    keys = sorted(motion, key=lambda k: k.frame)
    if frame <= keys[0].frame:
        return keys[0].offset
    if frame >= keys[-1].frame:
        return keys[-1].offset
    for a, b in zip(keys, keys[1:]):
        if a.frame <= frame <= b.frame:
            return _lerp(a.offset, b.offset, (frame - a.frame) / (b.frame - a.frame))
    raise AssertionError("unreachable: keys are sorted")


# -- the set -----------------------------------------------------------------


class Scene(Frozen):
    """A set: what is there and how it is lit. Cameras belong to shots.

    A set held in a studio's own file names it in `blend` or `command`
    (pipelines.spec.sources) and leaves materials and objects empty.
    """

    materials: dict[Label, Material] = Field(default_factory=dict, max_length=MAX_MATERIALS)
    objects: tuple[SceneObject, ...] = Field((), max_length=MAX_OBJECTS)
    lights: tuple[Light, ...] = Field((), max_length=MAX_LIGHTS)
    action_axis: ActionAxis | None = None
    subject: Label | None = Field(None, description="Name of the object the shots are about.")
    blend: BlendFile | None = Field(None, description="The set is this Blender file; rendered by the blender engine.")
    command: CommandSet | None = Field(None, description="The set is a DCC scene file rendered by its command line.")

    @property
    def external(self) -> bool:
        """Held in a file another program renders, not described here."""
        return self.blend is not None or self.command is not None

    @model_validator(mode="after")
    def _references_resolve(self) -> Scene:
        if self.blend is not None and self.command is not None:
            raise ValueError("a scene is a .blend or a command-line scene, not both")
        if not self.external and (not self.materials or not self.objects):
            raise ValueError("a scene needs materials and objects, or a blend or command scene file")
        names = [o.name for o in self.objects]
        dupes = sorted(n for n, k in Counter(names).items() if k > 1)
        if dupes:
            raise ValueError(f"object names must be unique, repeated: {', '.join(dupes)}")
        missing = sorted({o.material for o in self.objects} - set(self.materials))
        if missing:
            raise ValueError(f"objects use undefined materials: {', '.join(missing)}")
        if self.subject is not None and self.subject not in names:
            raise ValueError(f"subject {self.subject!r} is not an object of the scene")
        return self

