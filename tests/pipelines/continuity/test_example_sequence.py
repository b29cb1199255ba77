"""End to end on examples/continuity_errors.yaml at 48x28: every planted error is found, and fixed.

The only test here that renders: boundary frames with the built-in path
tracer, fixes applied the way the farm applies them (a Requeue patches the
spec and renders again, a Grade replaces the shot's grade), cuts walked in
timeline order so each right shot is judged against its fixed left neighbour.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from pipelines.continuity.check import check_cut
from pipelines.continuity.cut import Cut, CutSide
from pipelines.continuity.findings import Grade, Requeue, Severity, apply_patch
from pipelines.render.engines.pathtracer import PathTracer
from pipelines.spec.loading import load_sequence
from pipelines.spec.sequence import Sequence, Shot

EXAMPLE = Path(__file__).parents[3] / "examples" / "continuity_errors.yaml"


@pytest.fixture(scope="module")
def sequence() -> Sequence:
    return load_sequence(EXAMPLE).with_quality(resolution=(48, 28))


_RENDERS: dict[tuple[str, int], np.ndarray] = {}


def side(seq: Sequence, shot: Shot, frame: int) -> CutSide:
    unrendered = CutSide.of(seq, shot.name, frame, None).with_shot(shot)
    key = (unrendered.setup.digest, frame)
    if key not in _RENDERS:  # a left shot is rendered once, however often its cut is re-checked
        engine = PathTracer()
        engine.load(unrendered.setup)
        _RENDERS[key] = engine.render(frame).numpy()
    return dataclasses.replace(unrendered, pixels=_RENDERS[key])


def walk(seq: Sequence) -> dict[str, list[list[str]]]:
    """Rules found on each cut, attempt by attempt, applying the fixes until the cut is clean."""
    shots = {s.name: s for s in seq.shots}
    timeline = [s.name for s in seq.timeline]
    history: dict[str, list[list[str]]] = {}
    for a, b in zip(timeline, timeline[1:]):
        history[f"{a}>{b}"] = attempts = []
        for _ in range(3):
            left, right = shots[a], shots[b]
            found = check_cut(Cut(side(seq, left, left.frames.last), side(seq, right, right.frames.first)))
            attempts.append(sorted(f.rule for f in found if f.severity != Severity.INFO))
            if not attempts[-1]:
                break
            for fix in (f.fix for f in found):
                if isinstance(fix, Requeue):
                    shots[b] = apply_patch(shots[b], fix.patch)
                elif isinstance(fix, Grade):
                    shots[b] = shots[b].model_copy(update={"grade": fix.cdl})
    return history


def test_every_planted_error_is_found_and_every_cut_ends_clean(sequence):
    history = walk(sequence)
    assert "lighting" in history["sh010>sh020"][0] and "exposure" in history["sh010>sh020"][0]
    assert "lighting" in history["sh020>sh030"][0] and "white_balance" in history["sh020>sh030"][0]
    assert {"axis_180", "screen_direction"} <= set(history["sh030>sh040"][0])
    assert history["sh040>sh050"][0] == ["exposure"]
    for cut, attempts in history.items():
        assert attempts[-1] == [], f"{cut} still has {attempts[-1]} after its fixes"
        assert len(attempts) == 2, f"{cut} needed {len(attempts) - 1} rounds of fixes"
