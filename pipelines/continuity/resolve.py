"""One fix per cause: reconciling what several rules propose for the same shot.

Rules propose fixes independently; applied as they come, two of them could
re-render a shot twice, grade pixels that are about to be replaced, or
overwrite each other's camera patch. The farm applies every fix it receives,
so the list it receives must already be consistent:

1. Requeues for the right shot are merged into one patch, in rule order. Each
   later rule is asked again on the cut as patched so far, so a 30-degree swing
   is computed on the camera the 180-degree mirror produced, not the old one.
   The first requeueing finding carries the merged Requeue.
2. A Requeue beats whatever was judged on pixels: re-rendering replaces the
   pixels a grade was fitted on (or a colourist would look at), so those
   findings keep their severity and numbers but propose nothing; the cut is
   checked again on the new frames.
3. A spec-only finding that asks for Review is dropped to no fix when the
   merged re-render already resolves it (a mirrored camera also restores
   screen direction).
4. Grades: every grade rule proposes the same match grade; the first carries
   it.

A finding left without a fix says in its explanation which finding covers it.
This module must never measure pixels; it only re-asks spec-based rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from pipelines.continuity.cut import Cut
from pipelines.continuity.findings import Finding, Fix, Grade, Requeue, Review, merge_patch
from pipelines.continuity.rules.base import Rule


def one_fix_per_cause(cut: Cut, findings: list[Finding], rules: Mapping[str, Rule]) -> list[Finding]:
    requeues = [f for f in findings if isinstance(f.fix, Requeue)]
    if requeues:
        return _with_one_requeue(cut, findings, requeues, rules)
    grades = [f for f in findings if isinstance(f.fix, Grade)]
    if len(grades) > 1:
        carrier = grades[0]
        return [
            _covered(f, f"The grade proposed with the {carrier.rule} finding corrects this too.")
            if isinstance(f.fix, Grade) and f is not carrier
            else f
            for f in findings
        ]
    return findings


def _with_one_requeue(
    cut: Cut, findings: list[Finding], requeues: list[Finding], rules: Mapping[str, Rule]
) -> list[Finding]:
    right = cut.right.shot.name
    carrier = requeues[0]
    patch, patched, left_over = _merged(cut, requeues, rules)
    combined = Requeue(shot=right, patch=patch)
    by = f"the re-render of {right} proposed with the {carrier.rule} finding"
    out = []
    for f in findings:
        if f is carrier:
            out.append(f.model_copy(update={"fix": combined}))
        elif isinstance(f.fix, Requeue) and id(f) in left_over:
            out.append(f.model_copy(update={"fix": left_over[id(f)]}))
        elif isinstance(f.fix, Requeue):
            out.append(_covered(f, f"Its fix is part of {by}."))
        elif isinstance(f.fix, Grade) or (f.fix is not None and _reads_pixels(f, rules)):
            out.append(
                _covered(f, f"Nothing is proposed: {by} replaces these pixels, and the cut is checked again on the new frames.")
            )
        elif isinstance(f.fix, Review) and _resolved(f, patched, rules):
            out.append(_covered(f, f"{by[0].upper()}{by[1:]} resolves this too."))
        else:
            out.append(f)
    return out


def _merged(
    cut: Cut, requeues: list[Finding], rules: Mapping[str, Rule]
) -> tuple[dict[str, Any], Cut | None, dict[int, Review]]:
    """The merged patch, the cut as it would be after it (None if it does not validate),
    and a Review for each requeueing finding the merged patch can neither include nor resolve."""
    first = requeues[0].fix
    assert isinstance(first, Requeue)
    patch: dict[str, Any] = dict(first.patch)
    left_over: dict[int, Review] = {}
    try:
        patched = cut.with_right(cut.right.patched(patch))
    except ValidationError:
        # The farm would reject the carrier's patch anyway; the others stand alone as reviews.
        for f in requeues[1:]:
            left_over[id(f)] = Review(reason=f"Apply by hand after fixing {first.shot}: {f.explanation}")
        return patch, None, left_over
    for f in requeues[1:]:
        fix = _ask(rules.get(f.rule), patched)
        if fix is None:
            continue  # the patch so far already fixes it
        if isinstance(fix, Requeue):
            candidate = merge_patch(patch, fix.patch)
            try:
                patched = cut.with_right(cut.right.patched(candidate))
                patch = candidate
                continue
            except ValidationError:
                pass
        left_over[id(f)] = fix if isinstance(fix, Review) else Review(reason=f.explanation)
    return patch, patched, left_over


def _ask(rule: Rule | None, cut: Cut) -> Fix | None:
    """The rule's fix on `cut`, None when it no longer fires, a Review when it cannot be asked."""
    if rule is None:
        return Review(reason="The rule that proposed this fix is not registered.")
    try:
        measured = rule.measure(cut)
        if measured is None or rule.judge(measured) is None:
            return None
        return rule.fix(cut, measured) or Review(reason=rule.explain(cut, measured))
    except Exception as e:  # a rule that cannot be re-asked leaves its finding to a person
        return Review(reason=f"The {rule.name} rule failed on the patched shot ({type(e).__name__}: {e}).")


def _resolved(finding: Finding, patched: Cut | None, rules: Mapping[str, Rule]) -> bool:
    rule = rules.get(finding.rule)
    if patched is None or rule is None or rule.uses_pixels or finding.measured.get("crashed"):
        return False
    return _ask(rule, patched) is None


def _reads_pixels(finding: Finding, rules: Mapping[str, Rule]) -> bool:
    rule = rules.get(finding.rule)
    return rule is not None and rule.uses_pixels and not finding.measured.get("crashed")


def _covered(finding: Finding, note: str) -> Finding:
    return finding.model_copy(update={"fix": None, "explanation": f"{finding.explanation} {note}"})
