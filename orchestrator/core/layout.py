"""Where a sequence's things live in the store: the one place that spells the key layout.

    {show}/{sequence}/shots/{shot}/v{version}/a{attempt}/{frame}.exr   rendered frames, one folder per attempt
    {show}/{sequence}/master/...                                     segments, the master, deliverables
    {show}/{sequence}/continuity/...                                 cut reports
    {show}/{sequence}/editorial/import.json                          how a cut list became the sequence
    {show}/_previs/{previs_id}/...                                   an uploaded previs movie and its proposal

Every name in a key has matched the spec's Name pattern before it gets here.
"""

from __future__ import annotations


def sequence_prefix(show: str, sequence: str) -> str:
    return f"{show}/{sequence}"


def attempt_prefix(show: str, sequence: str, shot: str, version: int, attempt: int, take: int = 0) -> str:
    """An attempt's own folder: a late, superseded attempt can never overwrite the frames the log accepted.

    Each take of a generated shot has a folder of its own (…/v1/t2/a1).
    """
    version_prefix = f"{sequence_prefix(show, sequence)}/shots/{shot}/v{version}"
    return f"{version_prefix}/t{take}/a{attempt}" if take else f"{version_prefix}/a{attempt}"


def master_prefix(show: str, sequence: str) -> str:
    return f"{sequence_prefix(show, sequence)}/master"


def continuity_prefix(show: str, sequence: str) -> str:
    return f"{sequence_prefix(show, sequence)}/continuity"


def editorial_import(show: str, sequence: str) -> str:
    return f"{sequence_prefix(show, sequence)}/editorial/import.json"


def previs_prefix(show: str, previs_id: str) -> str:
    return f"{show}/_previs/{previs_id}"
