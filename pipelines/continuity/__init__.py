"""Continuity reasoning on cuts: the script supervisor's and the colourist's checks, with fixes.

Pure work on a Cut (two shot specs and their boundary frames): no Ray, no
storage, no network. The farm builds a Cut when both boundary frames of two
adjacent shots exist, calls check_cut, applies the fixes (Grade at mastering,
Requeue by re-rendering and checking again, Review by a person), and renders
the report.
"""

from pipelines.continuity.check import check_cut
from pipelines.continuity.cut import Cut, CutSide
from pipelines.continuity.findings import (
    Finding,
    Fix,
    Grade,
    Requeue,
    Review,
    Severity,
    apply_patch,
    merge_patch,
)
from pipelines.continuity.report import CutReport, Verdict, report_html, report_json, verdict
from pipelines.continuity.rules import RULES, Rule

__all__ = [
    "RULES",
    "Cut",
    "CutReport",
    "CutSide",
    "Finding",
    "Fix",
    "Grade",
    "Requeue",
    "Review",
    "Rule",
    "Severity",
    "Verdict",
    "apply_patch",
    "check_cut",
    "merge_patch",
    "report_html",
    "report_json",
    "verdict",
]
