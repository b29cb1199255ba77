"""A cut: the two shots that meet at it, their boundary frames and what they look like.

A CutSide is everything the rules may look at for one shot: its spec, the
resolved ShotSetup (camera and lights as rendered), the boundary timeline frame
(the left shot's last cut frame, the right shot's first), the decoded pixels of
that frame and its format, and what the engine reported with the frame (the
camera that looked, watched objects' positions): a shot rendered from a
studio's own file is staged from that report, having no camera in the spec
(pipelines.continuity.staging). Rules compare the two sides.

Pixels are the raw render (scene-linear ACEScg, before the shot's grade); the
grade rules measure what the master will show, so Cut.pixels and Cut.stats
apply each shot's grade unless asked for the raw frame. They are computed
once per side and cached on the Cut.

This module must never read files or render: the caller hands the frames in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cached_property
from typing import Any, Literal, TypeVar

import numpy as np
from torch import Tensor

from pipelines.continuity import moves
from pipelines.continuity.findings import apply_patch
from pipelines.continuity.fit import FrameStats, apply_cdl, as_pixels, frame_stats
from pipelines.render.reported import Reported
from pipelines.spec.sequence import Sequence, Shot
from pipelines.spec.setup import ShotSetup, shot_setup
from pipelines.spec.sources import CameraMove

Side = Literal["left", "right"]
T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class CutSide:
    shot: Shot
    setup: ShotSetup
    frame: int
    """The boundary timeline frame of this shot at the cut."""
    pixels: np.ndarray | None
    """(H, W, 3) float32 scene-linear ACEScg, or None when missing or unreadable."""
    fps: Fraction
    resolution: tuple[int, int]
    colour_space: str = "ACEScg"
    reported: Reported | None = None
    """What the engine reported with the boundary frame; None where the frame carries no report."""
    neighbour: tuple[int, Reported] | None = None
    """(timeline frame, report) of a frame next to the boundary, so motion can be staged."""

    @classmethod
    def of(
        cls,
        sequence: Sequence,
        shot: str,
        frame: int,
        pixels: np.ndarray | None,
        reported: Reported | None = None,
        neighbour: tuple[int, Reported] | None = None,
    ) -> CutSide:
        return cls(
            shot=sequence.shot(shot),
            setup=shot_setup(sequence, shot),
            frame=frame,
            pixels=pixels,
            fps=sequence.fps,
            resolution=sequence.resolution,
            reported=reported,
            neighbour=neighbour,
        )

    def report_at(self, frame: int) -> Reported | None:
        """The engine's report of a timeline frame, where the check was handed one."""
        if frame == self.frame:
            return self.reported
        if self.neighbour is not None and self.neighbour[0] == frame:
            return self.neighbour[1]
        return None

    def relative(self, frame: int | None = None) -> float:
        """Shot-relative frame (what camera and motion keys use) of a timeline frame."""
        return self.setup.relative(self.frame if frame is None else frame)

    def nonfinite(self) -> tuple[int, int]:
        """(NaN count, inf count) over all channels; (0, 0) when there are no pixels."""
        return self._nonfinite

    @cached_property
    def _nonfinite(self) -> tuple[int, int]:
        if self.pixels is None:
            return 0, 0
        px = np.asarray(self.pixels)
        bad = ~np.isfinite(px)
        if not bad.any():  # the common case: one pass over the frame, not two
            return 0, 0
        nan = int(np.isnan(px).sum())
        return nan, int(bad.sum()) - nan

    @property
    def usable(self) -> bool:
        """Pixels that can be measured: present, (H, W, 3) and all finite."""
        px = self.pixels
        return px is not None and px.ndim == 3 and px.shape[2] == 3 and px.size > 0 and self.nonfinite() == (0, 0)

    def with_shot(self, shot: Shot) -> CutSide:
        """This side as `shot` would render it; the old pixels no longer apply.

        Reported cameras are moved as the new shot's camera_move would move
        them: the move the frame was rendered with undone, the new one applied.
        """
        setup = self.setup.model_copy(
            update={
                "shot": shot.name,
                "camera": shot.camera,
                "blender": shot.blender,
                "lights": shot.lights if shot.lights is not None else self.setup.scene.lights,
            }
        )
        delta = moves.of(_move(self.shot)).inverse().then(moves.of(_move(shot)))
        neighbour = None if self.neighbour is None else (self.neighbour[0], _moved(self.neighbour[1], delta))
        reported = None if self.reported is None else _moved(self.reported, delta)
        return replace(self, shot=shot, setup=setup, pixels=None, reported=reported, neighbour=neighbour)

    def patched(self, patch: dict[str, Any]) -> CutSide:
        return self.with_shot(apply_patch(self.shot, patch))


@dataclass(frozen=True, eq=False)
class Cut:
    left: CutSide
    right: CutSide
    device: str = field(default="cpu", compare=False)
    """Torch device for the per-pixel work ("cpu", "cuda")."""
    _memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def between(
        cls,
        sequence: Sequence,
        left: str,
        right: str,
        left_pixels: np.ndarray | None,
        right_pixels: np.ndarray | None,
        device: str = "cpu",
        reported: tuple[Reported | None, Reported | None] = (None, None),
        neighbours: tuple[tuple[int, Reported] | None, tuple[int, Reported] | None] = (None, None),
    ) -> Cut:
        """The cut from `left` to `right`, at the left's last and the right's first cut frame.

        `reported` holds what the engine reported with the two boundary frames,
        `neighbours` a (frame, report) of a frame next to each.
        """
        a, b = sequence.shot(left), sequence.shot(right)
        return cls(
            CutSide.of(sequence, left, a.frames.last, left_pixels, reported[0], neighbours[0]),
            CutSide.of(sequence, right, b.frames.first, right_pixels, reported[1], neighbours[1]),
            device,
        )

    @property
    def name(self) -> str:
        return f"{self.left.shot.name}>{self.right.shot.name}"

    def side(self, which: Side) -> CutSide:
        return self.left if which == "left" else self.right

    @property
    def same_set(self) -> bool:
        """Both shots stage the same scene, so their cameras share one space, axis and subject."""
        return self._one_scene and self.same_setting

    @property
    def _one_scene(self) -> bool:
        """One scene of the spec, or two that name the same .blend set (file, scene, subject, line)."""
        if self.left.shot.scene == self.right.shot.scene:
            return True
        a, b = self.left.setup.scene.blend, self.right.setup.scene.blend
        return a is not None and a == b

    @property
    def same_setting(self) -> bool:
        """Same location and time of day, so the light and the grade must match.

        Tags declared on both shots decide; where either shot leaves a tag out,
        sharing the scene stands in for it.
        """
        a, b = self.left.shot.continuity, self.right.shot.continuity
        pairs = ((a.location, b.location), (a.time_of_day, b.time_of_day))
        if any(x is not None and y is not None and x != y for x, y in pairs):
            return False
        if all(x is not None and y is not None for x, y in pairs):
            return True
        return self._one_scene

    def with_right(self, right: CutSide) -> Cut:
        return Cut(self.left, right, self.device)

    def cached(self, key: str, compute: Callable[[], T]) -> T:
        """`compute()` once per cut: several rules share one grade fit."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def pixels(self, which: Side, graded: bool = True) -> Tensor | None:
        """The side's sampled pixels on the cut's device, with its grade applied unless told not to."""
        px = self._graded if graded else self._raw
        return px.get(which)

    def stats(self, which: Side, graded: bool = True) -> FrameStats | None:
        """Statistics of the frame (graded unless told not to); None when it cannot be measured."""
        return (self._stats if graded else self._raw_stats).get(which)

    @cached_property
    def _raw(self) -> dict[Side, Tensor]:
        out: dict[Side, Tensor] = {}
        for which in ("left", "right"):
            side = self.side(which)  # type: ignore[arg-type]
            if side.usable:
                out[which] = as_pixels(side.pixels, self.device)  # type: ignore[index,arg-type]
        return out

    @cached_property
    def _graded(self) -> dict[Side, Tensor]:
        return {w: apply_cdl(self.side(w).shot.grade, px) for w, px in self._raw.items()}

    @cached_property
    def _stats(self) -> dict[Side, FrameStats]:
        return _measured(self._graded)

    @cached_property
    def _raw_stats(self) -> dict[Side, FrameStats]:
        ungraded = {w: px for w, px in self._raw.items() if self.side(w).shot.grade is not None}
        # An ungraded side's raw statistics are its graded ones: measure once.
        return {w: st for w, st in self._stats.items() if w not in ungraded} | _measured(ungraded)


def _move(shot: Shot) -> CameraMove | None:
    return shot.blender.camera_move if shot.blender is not None else None


def _moved(report: Reported, move: moves.GroundMove) -> Reported:
    if report.camera is None or move.is_identity:
        return report
    return replace(report, camera=moves.repose(report.camera, move))


def _measured(frames: dict[Side, Tensor]) -> dict[Side, FrameStats]:
    out: dict[Side, FrameStats] = {}
    for which, px in frames.items():
        stats = frame_stats(px)
        if stats is not None:
            out[which] = stats
    return out
