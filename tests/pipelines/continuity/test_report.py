"""The report: one row per cut with its verdict, findings and before/after thumbnails."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from pipelines.continuity.check import check_cut
from pipelines.continuity.report import CutReport, Verdict, report_html, report_json, verdict
from tests.pipelines.continuity.synthetic import SKY, SUN, cut_of, frame, mirrored, two_shots


def picture(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def row(cut, rerendered=None, width=64) -> CutReport:
    return CutReport.build(cut, check_cut(cut), rerendered=rerendered, width=width)


def test_a_clean_cut_is_ok_and_shows_the_same_pictures_before_and_after():
    left = frame(1)
    r = row(cut_of(two_shots(), left, mirrored(left)))
    assert r.verdict == Verdict.OK and r.findings == () and r.after_label == "unchanged"
    assert r.after == r.before
    assert picture(r.before[0]).shape == (36, 64, 3)  # 96x54 at 64 wide keeps 16:9


def test_a_graded_fix_shows_the_right_frame_with_the_grade_applied():
    left = frame(2)
    r = row(cut_of(two_shots(right_scene="other"), left, mirrored(left) * np.float32(4.0)))
    assert r.verdict == Verdict.FIXED and r.after_label == "graded"
    before, after, reference = picture(r.before[1]), picture(r.after[1]), picture(r.before[0])
    assert abs(after.mean() - reference.mean()) < abs(before.mean() - reference.mean()) / 4
    assert r.after[0] == r.before[0]  # the left shot is never touched


def test_a_re_render_is_pending_until_the_new_frame_is_passed_in():
    left = frame(3)
    seq = two_shots(right={"lights": [SUN | {"intensity": 12.0}, SKY]})
    cut = cut_of(seq, left, mirrored(left) * np.float32(4.0))
    pending = row(cut)
    assert pending.verdict == Verdict.FIXED and pending.after_label == "re-render pending" and pending.after[1] is None
    done = row(cut, rerendered=mirrored(left))
    assert done.after_label == "re-rendered" and picture(done.after[1]).shape == (36, 64, 3)


@pytest.mark.parametrize(
    ("rules", "expected"),
    [([], Verdict.OK), (["tags"], Verdict.REVIEW), (["frames"], Verdict.ERROR)],
)
def test_the_verdict_says_what_a_person_has_to_do(rules, expected):
    left = frame(4)
    right_tags = {"continuity": {"location": "quarry", "time_of_day": "noon", "props": ["map"]}} if "tags" in rules else {}
    seq = two_shots(right=right_tags)
    cut = cut_of(seq, left, None if "frames" in rules else mirrored(left))
    assert verdict(check_cut(cut)) == expected


def test_the_page_is_self_contained_escaped_and_shows_every_cut():
    left = frame(5)
    odd = {"continuity": {"location": "quarry", "time_of_day": "noon", "wardrobe": {"hero": "<coat & hat>"}}}
    rows = [
        row(cut_of(two_shots(), left, mirrored(left))),
        row(cut_of(two_shots(right=odd, left={"continuity": {"location": "quarry", "time_of_day": "noon",
                                                              "wardrobe": {"hero": "cape"}}}), left, None)),
    ]
    page = report_html(rows, title="sq010 continuity")
    assert page.startswith("<!doctype html>") and "<style>" in page
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched
    assert page.count("data:image/png;base64,") == 6  # 2 + 2 for the clean cut, left before/after for the other
    assert "&lt;coat &amp; hat&gt;" in page and "<coat" not in page
    assert "sh010 <span class=\"arrow\">›</span> sh020" in page
    assert "sh020: no frame" in page
    assert "1 ok" in page and "1 error" in page


def test_the_json_report_round_trips_rows():
    left = frame(6)
    rows = [row(cut_of(two_shots(right_scene="other"), left, mirrored(left) * np.float32(3.0)))]
    data = json.loads(report_json(rows))
    assert data[0]["cut"] == "sh010>sh020" and data[0]["verdict"] == "fixed"
    assert data[0]["findings"][0]["fix"]["kind"] == "grade"
    assert CutReport.model_validate(data[0]) == rows[0]


def test_an_empty_report_says_so():
    assert "No cuts were checked." in report_html([])
