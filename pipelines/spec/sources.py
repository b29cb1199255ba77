"""Scenes and shots that another program renders: a Blender file, a DCC's command line, a plug-in engine.

A spec scene (spheres, planes, boxes) is rendered by the built-in path
tracer. A studio's own scene is named here instead: the set says which file
holds it and which of its objects are the subject and the line of action (by
object name, as a TD reads them in the outliner), and each shot says which
camera object looks through it. The engines report the camera and those
objects back with every frame, so the continuity rules judge these shots
from what was rendered, not from a copy of the scene in the spec.

A continuity fix never edits the studio's file: it sets `camera_move` on the
shot, an override the engine applies to the camera object after loading.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, Strict, model_validator

from pipelines.spec import limits
from pipelines.spec.base import ActionAxis, Frozen, Vec3
from pipelines.spec.limits import Coordinate, Label, Real, Text

STORE_PREFIX = "store:"
"""A scene file given as `store:KEY` is read from the farm's object store, not the node's disk."""
PASSES = ("depth", "normal")
"""Extra passes an engine may write beside the beauty."""
Pass = Literal["depth", "normal"]
CLIP_ENGINES = ("diffusion",)
"""Engines that generate a whole shot at once (a video diffusion model): its frames cannot be split across nodes."""
ScalarOption = Annotated[str, Field(max_length=limits.MAX_TEXT)] | Coordinate | Annotated[int, Strict(), Field(ge=-limits.MAX_FRAME, le=limits.MAX_FRAME)] | bool


class BlendFile(Frozen):
    """A set held in a .blend: the file, the scene in it, and the objects the continuity rules watch."""

    file: Annotated[str, Field(min_length=1, max_length=limits.MAX_TEXT)] = Field(
        description="Path on the render nodes, or store:KEY for a file in the farm's object store."
    )
    scene: Label = Field("Scene", description="Scene (bpy.data.scenes) in the file.")
    subject: Label | None = Field(None, description="Object the shots are about, e.g. the hero character.")
    action_line: tuple[Label, Label] | None = Field(
        None, description="Two objects whose ground positions set the line of action cameras must not cross."
    )

    @property
    def watched(self) -> tuple[str, ...]:
        """Objects whose positions the engine reports with every frame."""
        names = ([self.subject] if self.subject else []) + list(self.action_line or ())
        return tuple(dict.fromkeys(names))


class Yaw(Frozen):
    """Swing about the vertical line through `centre`, counter-clockwise seen from above."""

    centre: Vec3
    degrees: Real = Field(ge=-360, le=360)


class CameraMove(Frozen):
    """A rigid move of a camera object's whole animation, applied after the file loads (never saved to it).

    Positions and aim points of every frame are mirrored across the line of
    action, or swung about a point; the camera stays upright. World
    coordinates are the farm's (Y up), as the engine reports them.
    """

    mirror: ActionAxis | None = None
    yaw: Yaw | None = None

    @model_validator(mode="after")
    def _one(self) -> CameraMove:
        if (self.mirror is None) == (self.yaw is None):
            raise ValueError("a camera move is either a mirror or a yaw")
        return self


class BlenderShot(Frozen):
    """How one shot renders from its scene's .blend."""

    camera: Label = Field(description="Camera object to look through.")
    frame_offset: Annotated[int, Field(ge=-limits.MAX_FRAME, le=limits.MAX_FRAME)] = Field(
        0, description="Blender frame = timeline frame + frame_offset."
    )
    passes: tuple[Pass, ...] = Field((), max_length=len(PASSES), description="Extra passes beside the beauty.")
    camera_move: CameraMove | None = Field(None, description="Set by continuity fixes; the file is never modified.")


class CommandSet(Frozen):
    """A scene any DCC renders from its command line, one call per chunk.

    `argv` is a template: {scene}, {first}, {last} and {output} (a path with
    #### for the frame number) are filled per chunk. The program must write
    one scene-linear EXR per frame at {output}.
    """

    file: Annotated[str, Field(min_length=1, max_length=limits.MAX_TEXT)] = Field(description="The scene file: a path on the nodes.")
    argv: tuple[Text, ...] = Field(min_length=1, max_length=256)
    timeout_s: Real = Field(600.0, gt=0, le=limits.MAX_SECONDS, description="Per chunk; the program is killed past it.")
    colour_space: Label = Field("ACEScg", description="OCIO colour space of the EXRs the program writes.")
    subject: Label | None = None


class EngineChoice(Frozen):
    """A shot an installed engine renders, with that engine's own options (checked by the engine on load)."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    options: dict[Label, ScalarOption] = Field(default_factory=dict, max_length=limits.MAX_TAGS)

    @property
    def makes_clips(self) -> bool:
        """Whether the engine generates a shot as one clip rather than frame by frame (planned as one chunk)."""
        return self.name in CLIP_ENGINES
