"""The registry of continuity rules, one module per family.

Order matters only for fixes: when several rules re-render the same shot,
check_cut composes their patches in this order (lights, then the camera: line
first, then the 30-degree swing on the mirrored camera).
"""

from __future__ import annotations

from pipelines.continuity.rules.base import Rule
from pipelines.continuity.rules.format import Format
from pipelines.continuity.rules.grade import Contrast, Exposure, Saturation, WhiteBalance
from pipelines.continuity.rules.lighting import Lighting
from pipelines.continuity.rules.staging import Axis180, JumpCut30, ScreenDirection
from pipelines.continuity.rules.tags import Tags

RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Format(),
        Tags(),
        Lighting(),
        Axis180(),
        JumpCut30(),
        ScreenDirection(),
        Exposure(),
        WhiteBalance(),
        Contrast(),
        Saturation(),
    )
}

__all__ = ["RULES", "Rule"]
