"""What a continuity check says about a cut: findings and the fixes they propose.

A Finding is the farm's record of one broken rule on one cut: the numbers that
were measured, how bad it is, a paragraph a person can read, and at most one
fix. Fixes always target the right-hand shot of the cut (the left one has
already set the look, the line and the lighting that the audience has seen):

- Grade: a complete ASC CDL that replaces the shot's grade at mastering; no
  re-render.
- Requeue: a JSON merge patch (RFC 7386) on the shot's spec; the shot is
  re-rendered and the cut is checked again.
- Review: a person has to decide.

This module must never measure pixels or touch storage: it is plain data plus
the merge-patch helper that turns a Requeue into a new Shot.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipelines.color.cdl import CDL
from pipelines.spec.sequence import Shot


class Severity(str, Enum):
    INFO = "info"
    WARN = "warn"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.INFO: 0, Severity.WARN: 1, Severity.ERROR: 2}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Grade(_Frozen):
    """Master the shot with this CDL instead of its current grade."""

    kind: Literal["grade"] = "grade"
    shot: str
    cdl: CDL


class Requeue(_Frozen):
    """Re-render the shot with its spec merge-patched (RFC 7386) by `patch`."""

    kind: Literal["requeue"] = "requeue"
    shot: str
    patch: dict[str, Any]


class Review(_Frozen):
    """Nothing the farm can do on its own; `reason` tells a person what to look at."""

    kind: Literal["review"] = "review"
    reason: str


Fix = Annotated[Grade | Requeue | Review, Field(discriminator="kind")]


class Finding(_Frozen):
    """One rule broken on one cut.

    `fix` is None when the rule proposes nothing (info findings) or when the
    cut's other findings already carry the fix for the same cause: check_cut
    keeps one Grade and one Requeue per shot, and a finding whose cause they
    cover says so in its explanation.
    """

    rule: str
    cut: str = Field(description='"left>right", e.g. "sh010>sh020".')
    left: str
    right: str
    measured: dict[str, float]
    threshold: float = Field(description="The warn threshold, in the unit of the judged quantity.")
    severity: Severity
    explanation: str
    fix: Fix | None = None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def apply_patch(shot: Shot, patch: dict[str, Any]) -> Shot:
    """The shot with `patch` merged into its JSON form, validated again (raises on a bad patch)."""
    return Shot.model_validate(merge_patch(shot.model_dump(mode="json"), patch))


class TakeScore(BaseModel):
    """How well one take cuts with its neighbours: lower is better."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    take: int = Field(ge=1)
    chunk_id: str
    score: float = Field(ge=0)
    findings: tuple[str, ...] = Field(default=(), description="'cut rule severity' for each broken rule, e.g. 'sh010>sh020 exposure warn'.")
    distances: dict[str, float] = Field(default_factory=dict, description="'cut rule' -> how far from a match, in tolerances.")


class TakeRow(TakeScore):
    """One take as the report and the API show it: its score, what it cost, and whether it was accepted."""

    shot: str
    version: int = Field(ge=1)
    seed: int | None = None
    accepted: bool
    node_seconds: float = Field(ge=0)
    cost_usd: float = Field(ge=0)
    reason: str = Field("", description="Why the accepted take won (on the accepted take's row).")
    shot_seconds: float = Field(0.0, ge=0, description="Seconds of picture the shot's cut holds: what its takes paid for.")
