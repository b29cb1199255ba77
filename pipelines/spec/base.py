"""What every spec model is built on: frozen, strict, finite models and world points."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from pipelines.spec.limits import Coordinate

Vec3 = tuple[Coordinate, Coordinate, Coordinate]
"""A world point or direction: Y is up, as the built-in renderer and the continuity rules use."""


class Frozen(BaseModel):
    """Base for every spec model: immutable, strict about unknown fields, and finite.

    NaN and infinity are refused in every float field: JSON cannot carry
    them, so one would be written to the event log as null and fail every
    later replay.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ActionAxis(Frozen):
    """The line of action (two points on the ground) that cameras must not cross."""

    a: Vec3
    b: Vec3
