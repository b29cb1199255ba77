"""Editorial format: both sides of a cut must play at one rate, size and colour space, without a gap.

A frame-rate, resolution or colour-space mismatch is an error (the master
cannot be assembled honestly); a gap or an overlap between the left shot's
last cut frame and the right shot's first is a warning with the frame count,
because editorial may mean it (a gap masters as black).

This module must never look at pixels; it reads the sides' declared format.
"""

from __future__ import annotations

from pipelines.continuity.cut import Cut
from pipelines.continuity.findings import Review, Severity

# Format mismatches and gaps are counts: one is already one too many.
MISMATCH_ERROR = 1.0
GAP_WARN = 1.0


def _format_problems(cut: Cut) -> list[str]:
    a, b = cut.left, cut.right
    problems = []
    if a.fps != b.fps:
        problems.append(f"frame rate {float(a.fps):g} fps against {float(b.fps):g} fps")
    if tuple(a.resolution) != tuple(b.resolution):
        problems.append(f"resolution {a.resolution[0]}x{a.resolution[1]} against {b.resolution[0]}x{b.resolution[1]}")
    if a.colour_space != b.colour_space:
        problems.append(f"colour space {a.colour_space} against {b.colour_space}")
    return problems


class Format:
    name = "format"
    threshold = GAP_WARN
    uses_pixels = False

    def measure(self, cut: Cut) -> dict[str, float]:
        a, b = cut.left, cut.right
        return {
            "fps_left": float(a.fps),
            "fps_right": float(b.fps),
            "width_left": float(a.resolution[0]),
            "height_left": float(a.resolution[1]),
            "width_right": float(b.resolution[0]),
            "height_right": float(b.resolution[1]),
            "colour_space_match": float(a.colour_space == b.colour_space),
            "format_mismatches": float(len(_format_problems(cut))),
            # > 0 is a gap of that many frames, < 0 an overlap.
            "gap_frames": float(b.shot.frames.first - a.shot.frames.last - 1),
        }

    def judge(self, measured: dict[str, float]) -> Severity | None:
        if measured["format_mismatches"] >= MISMATCH_ERROR:
            return Severity.ERROR
        return Severity.WARN if abs(measured["gap_frames"]) >= GAP_WARN else None

    def fix(self, cut: Cut, measured: dict[str, float]) -> Review:
        if measured["format_mismatches"] >= MISMATCH_ERROR:
            return Review(reason="Conform both shots to the sequence's frame rate, resolution and colour space.")
        return Review(reason="Confirm the gap or overlap with editorial, or close it on the timeline.")

    def explain(self, cut: Cut, measured: dict[str, float]) -> str:
        left, right = cut.left.shot.name, cut.right.shot.name
        sentences = []
        problems = _format_problems(cut)
        if problems:
            sentences.append(f"{left} and {right} do not share a format: {'; '.join(problems)}.")
        gap = int(measured["gap_frames"])
        if gap:
            last, first = cut.left.shot.frames.last, cut.right.shot.frames.first
            what = f"a gap of {gap} frame{'s' if gap != 1 else ''}" if gap > 0 else (
                f"an overlap of {-gap} frame{'s' if gap != -1 else ''}"
            )
            sentences.append(
                f"There is {what} between {left}'s last cut frame ({last}) and {right}'s first ({first})."
            )
        return " ".join(sentences)
