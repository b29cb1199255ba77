"""How faulted runs are held to the clean run: every master file byte for byte, the conform by its cut."""

from __future__ import annotations

import json

from bench.chaos import master_differences


def _clip(name: str, start: int, length: int, folder: str, slope: float = 1.0) -> dict:
    def t(v: int) -> dict:
        return {"OTIO_SCHEMA": "RationalTime.1", "rate": 24.0, "value": float(v)}

    return {
        "OTIO_SCHEMA": "Clip.2",
        "name": name,
        "source_range": {"OTIO_SCHEMA": "TimeRange.1", "start_time": t(start), "duration": t(length)},
        "metadata": {"cdl": {"asc_sop": {"slope": [slope] * 3, "offset": [0.0] * 3, "power": [1.0] * 3}, "asc_sat": 1.0}},
        "media_references": {"DEFAULT_MEDIA": {"target_url_base": folder}},
    }


def _conform(*items: dict) -> bytes:
    return json.dumps({"tracks": {"children": [{"children": list(items)}]}}).encode()


CLEAN = {"conform.otio": _conform(_clip("sh010", 1001, 10, "a1")), "exr/001001.exr": b"frame"}


def test_a_shot_split_across_attempt_folders_is_the_same_cut():
    faulted = dict(CLEAN, **{"conform.otio": _conform(_clip("sh010", 1001, 3, "a1"), _clip("sh010", 1004, 7, "a2"))})
    assert master_differences(faulted, CLEAN) == []


def test_another_grade_or_another_range_is_a_different_cut():
    graded = dict(CLEAN, **{"conform.otio": _conform(_clip("sh010", 1001, 3, "a1"), _clip("sh010", 1004, 7, "a2", slope=1.2))})
    short = dict(CLEAN, **{"conform.otio": _conform(_clip("sh010", 1001, 9, "a1"))})
    assert [d.split(":")[0] for d in master_differences(graded, CLEAN)] == ["conform.otio"]
    assert [d.split(":")[0] for d in master_differences(short, CLEAN)] == ["conform.otio"]


def test_every_other_master_file_is_compared_byte_for_byte():
    assert [d.split(":")[0] for d in master_differences(dict(CLEAN, **{"exr/001001.exr": b"other"}), CLEAN)] == ["exr/001001.exr"]
