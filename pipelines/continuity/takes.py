"""Choosing among the takes of a generated shot: the continuity rules, read as a score.

A generated shot asked for as N takes is generated N times with different
seeds. Each take is cut against the shots beside it exactly as the farm cuts
any shot (check_cut on the same boundary frames), and scored from what the
rules found: a broken rule costs by its severity, and how far each picture
rule (exposure, white balance, contrast, saturation) is from a match, in
its own tolerances, separates takes that break nothing. The lowest score
wins; a tie goes to the lower take, so the choice never depends on timing.

Pure: cuts in, scores and a sentence out. Reading frames is the check
node's job.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipelines.continuity.check import check_cut
from pipelines.continuity.cut import Cut
from pipelines.continuity.findings import Finding, Severity, TakeScore
from pipelines.continuity.rules import RULES

SEVERITY_COST = {Severity.ERROR: 100.0, Severity.WARN: 10.0, Severity.INFO: 1.0}
"""What one broken rule adds to a take's score: any warning outweighs every distance below tolerance."""
MAX_DISTANCE = 10.0
"""A distance counts at most this many tolerances: one wild measurement is already a finding."""
PICTURE_RULES = {"exposure": "stops", "white_balance": "delta_uv", "contrast": "log2_ratio", "saturation": "log2_ratio"}
"""Rule -> the quantity it judges (what the grades add on one rig, the frames' difference otherwise)."""


def distances(cut: Cut) -> dict[str, float]:
    """'cut rule' -> |judged quantity| / tolerance for each picture rule that applies to the cut."""
    out = {}
    for name, key in PICTURE_RULES.items():
        rule = RULES[name]
        try:
            measured = rule.measure(cut)
        except Exception:  # a rule that cannot measure this pair says so as a finding in check_cut
            measured = None
        if measured is None:
            continue
        judged = measured[f"grade_{key}" if measured.get("same_rig") else key]
        out[f"{cut.name} {name}"] = round(min(MAX_DISTANCE, abs(judged) / rule.threshold), 6)
    return out


def score(take: int, chunk_id: str, cuts: Iterable[Cut]) -> TakeScore:
    """The take's score over the cuts it makes with its neighbours."""
    found: list[Finding] = []
    far: dict[str, float] = {}
    for cut in cuts:
        found += check_cut(cut)
        far.update(distances(cut))
    problems = [f for f in found if f.severity.rank >= Severity.INFO.rank]
    total = sum(SEVERITY_COST[f.severity] for f in problems) + sum(far.values())
    return TakeScore(
        take=take,
        chunk_id=chunk_id,
        score=round(total, 6),
        findings=tuple(f"{f.cut} {f.rule} {f.severity.value}" for f in problems),
        distances=far,
    )


def choose(scores: Iterable[TakeScore]) -> tuple[TakeScore, str]:
    """The winning take and why, in a sentence a person reads in the report."""
    ranked = sorted(scores, key=lambda s: (s.score, s.take))
    if not ranked:
        raise ValueError("no takes to choose from")
    best = ranked[0]
    why = f"take {best.take} scores {best.score:.2f}, the lowest of {len(ranked)} ({_summary(best)})"
    if len(ranked) > 1:
        runner = ranked[1]
        why += f"; next, take {runner.take} scores {runner.score:.2f} ({_summary(runner)})"
    return best, why


def _summary(s: TakeScore) -> str:
    if s.findings:
        return "breaks " + ", ".join(s.findings)
    if not s.distances:
        return "no rule measured it"
    worst = max(s.distances.items(), key=lambda kv: kv[1])
    return f"breaks nothing; furthest from a match: {worst[0]} at {worst[1]:.2f} of its tolerance"
