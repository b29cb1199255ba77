"""The takes of generated shots, as the report, the API and the metrics show them.

A fold of a SequenceState: every take of a shot's current version with its
score, what it cost and whether it was accepted; and what the picture that
was kept cost per second, every rejected take and replaced version counted.
"""

from __future__ import annotations

from orchestrator.core.state import SequenceState
from pipelines.continuity.findings import TakeRow


def take_rows(seq: SequenceState) -> list[TakeRow]:
    """Every take of every shot with a current choice, in timeline order, take 1 first."""
    rows = []
    for shot in seq.spec.timeline:
        if not seq.has_takes(shot.name) or not seq.take_current(shot.name):
            continue
        choice = seq.chosen[shot.name]
        chunks = {c.plan.take: c for c in seq.take_chunks(shot.name)}
        seed = shot.engine.options.get("seed", seq.spec.seed) if shot.engine is not None else None
        for score in choice.scores:
            chunk = chunks.get(score.take)
            rows.append(
                TakeRow(
                    **score.model_dump(),
                    shot=shot.name,
                    version=choice.version,
                    seed=(int(seed) + score.take - 1) % 2**63 if isinstance(seed, int) else None,
                    accepted=score.take == choice.take,
                    node_seconds=chunk.node_seconds if chunk else 0.0,
                    cost_usd=chunk.cost_usd if chunk else 0.0,
                    reason=choice.reason if score.take == choice.take else "",
                    shot_seconds=len(shot.frames) / float(seq.spec.fps),
                )
            )
    return rows


def picture_seconds(seq: SequenceState) -> float:
    """Seconds of picture the sequence delivers: every shot's cut, at the sequence's rate."""
    return sum(len(s.frames) for s in seq.spec.shots) / float(seq.spec.fps)


def usd_per_second(seq: SequenceState) -> float:
    """What each second of accepted picture cost, rejected takes and replaced versions included."""
    seconds = picture_seconds(seq)
    return seq.cost_usd / seconds if seconds > 0 else 0.0
