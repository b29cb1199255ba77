"""Metric names in PromQL expressions, and the sample names the farm exports.

Not a PromQL parser: it removes what cannot be a metric name (strings,
label matchers, range and subquery brackets, grouping clauses, function
calls, keywords, numbers and durations) and keeps the identifiers left.
Enough for the expressions in monitoring/, and tested on its own.
"""

from __future__ import annotations

import re

from orchestrator.config.cost import PriceBook
from orchestrator.projections.metrics import FarmMetrics

KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset",
    "inf", "nan", "atan2",
}  # fmt: skip
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")


def metric_names(expr: str) -> set[str]:
    text = _STRING.sub('""', expr)
    text = _BRACES.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _IDENT.findall(text) if name.lower() not in KEYWORDS}


def exported_samples() -> set[str]:
    """Every sample name the farm's registry can expose: counters as _total, histograms as _bucket/_sum/_count."""
    names = set()
    for family in FarmMetrics(PriceBook()).registry.collect():
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names
