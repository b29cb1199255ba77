"""Choosing a take: the continuity rules, read as a score, lowest wins; the report shows every take."""

from __future__ import annotations

import json

import numpy as np

from pipelines.continuity import takes
from pipelines.continuity.findings import TakeRow
from pipelines.continuity.report import report_html, takes_json
from tests.pipelines.continuity.synthetic import cut_of, frame, mirrored, two_shots

SET = two_shots(right_scene="other")  # not one rig: the frames are judged against each other


def test_a_take_that_breaks_a_rule_loses_to_one_that_matches_the_cut_before():
    left = frame(1)
    matching = takes.score(1, "sh020.t1", [cut_of(SET, left, mirrored(left))])
    brighter = takes.score(2, "sh020.t2", [cut_of(SET, left, mirrored(left) * np.float32(4.0))])
    assert matching.findings == () and brighter.findings  # two stops brighter: an exposure finding
    assert "sh010>sh020 exposure error" in brighter.findings or "sh010>sh020 exposure warn" in brighter.findings
    assert brighter.score > matching.score + 10
    best, why = takes.choose([brighter, matching])
    assert best.take == 1
    assert why.startswith("take 1 scores") and "next, take 2 scores" in why and "breaks sh010>sh020 exposure" in why


def test_among_takes_that_break_nothing_the_one_nearer_a_match_wins():
    left = frame(2)
    near = takes.score(1, "t1", [cut_of(SET, left, mirrored(left) * np.float32(1.05))])
    far = takes.score(2, "t2", [cut_of(SET, left, mirrored(left) * np.float32(1.18))])
    assert near.findings == far.findings == ()
    assert far.distances["sh010>sh020 exposure"] > near.distances["sh010>sh020 exposure"]
    assert takes.choose([far, near])[0].take == 1


def test_a_tie_goes_to_the_lower_take_whatever_order_the_scores_came_in():
    left = frame(3)
    a, b = (takes.score(k, f"t{k}", [cut_of(SET, left, mirrored(left))]) for k in (2, 1))
    assert a.score == b.score
    assert takes.choose([a, b])[0].take == 1


def test_the_report_shows_every_take_with_its_score_and_cost_and_why_the_winner_won():
    rows = [
        TakeRow(take=1, chunk_id="t1", score=12.5, findings=("sh010>sh020 exposure warn",), shot="sh020", version=1, seed=42,
                accepted=False, node_seconds=3.0, cost_usd=0.002),
        TakeRow(take=2, chunk_id="t2", score=0.4, shot="sh020", version=1, seed=43, accepted=True, node_seconds=3.1,
                cost_usd=0.0021, reason="take 2 scores 0.40, the lowest of 2", shot_seconds=0.5),
    ]  # fmt: skip
    page = report_html([], takes=rows)
    assert 'id="takes-sh020"' in page and "take 2 scores 0.40, the lowest of 2" in page
    assert '<tr class="accepted"><td>2</td><td>43</td><td>0.40</td>' in page
    assert "sh010&gt;sh020 exposure warn" in page and "$0.0041 in all" in page and "$0.0082 per second of accepted picture" in page
    assert [t["accepted"] for t in json.loads(takes_json(rows))] == [False, True]
