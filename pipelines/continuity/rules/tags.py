"""Declared continuity: what the script supervisor wrote down must agree within a location.

Compares the tags of two shots at one location (declared on both, or the same
scene when either leaves the location out): the time of day, each wardrobe
item both shots declare, and the props (one shot declaring a prop the other
lacks). A contradiction is a warning for a person: the farm cannot know which
shot is right.

This module must never look at pixels or at the scene geometry.
"""

from __future__ import annotations

from pipelines.continuity.cut import Cut
from pipelines.continuity.findings import Review, Severity

# Any contradiction is worth a look, none is worth stopping the master for:
# one mismatch is the smallest count there is.
MISMATCHES_WARN = 1.0


def _same_location(cut: Cut) -> bool:
    a, b = cut.left.shot.continuity.location, cut.right.shot.continuity.location
    if a is not None and b is not None:
        return a == b
    return cut.left.shot.scene == cut.right.shot.scene


def _contradictions(cut: Cut) -> tuple[list[str], list[str], list[str]]:
    """(time of day, wardrobe, props) contradictions in words."""
    a, b = cut.left.shot.continuity, cut.right.shot.continuity
    left, right = cut.left.shot.name, cut.right.shot.name
    time = []
    if a.time_of_day is not None and b.time_of_day is not None and a.time_of_day != b.time_of_day:
        time.append(f"time of day is {a.time_of_day!r} in {left} but {b.time_of_day!r} in {right}")
    wardrobe = [
        f"wardrobe {key!r} is {a.wardrobe[key]!r} in {left} but {b.wardrobe[key]!r} in {right}"
        for key in sorted(a.wardrobe.keys() & b.wardrobe.keys())
        if a.wardrobe[key] != b.wardrobe[key]
    ]
    props = [f"prop {p!r} is in {left} but not in {right}" for p in sorted(set(a.props) - set(b.props))]
    props += [f"prop {p!r} is in {right} but not in {left}" for p in sorted(set(b.props) - set(a.props))]
    return time, wardrobe, props


class Tags:
    name = "tags"
    threshold = MISMATCHES_WARN
    uses_pixels = False

    def measure(self, cut: Cut) -> dict[str, float] | None:
        if not _same_location(cut):
            return None
        time, wardrobe, props = _contradictions(cut)
        return {
            "time_of_day": float(len(time)),
            "wardrobe": float(len(wardrobe)),
            "props": float(len(props)),
            "mismatches": float(len(time) + len(wardrobe) + len(props)),
        }

    def judge(self, measured: dict[str, float]) -> Severity | None:
        return Severity.WARN if measured["mismatches"] >= MISMATCHES_WARN else None

    def fix(self, cut: Cut, measured: dict[str, float]) -> Review:
        return Review(
            reason=f"Check the continuity notes of {cut.left.shot.name} and {cut.right.shot.name} and "
            f"correct whichever shot is wrong."
        )

    def explain(self, cut: Cut, measured: dict[str, float]) -> str:
        problems = [p for group in _contradictions(cut) for p in group]
        n = len(problems)
        return (
            f"{cut.left.shot.name} and {cut.right.shot.name} are at the same location but their continuity "
            f"notes disagree in {n} place{'s' if n != 1 else ''}: {'; '.join(problems)}."
        )
