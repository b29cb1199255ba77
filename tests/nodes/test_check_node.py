"""CheckNode: a cut between shots rendered from a .blend is judged from the camera and objects in the frames' headers."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from nodes.actors.check import CheckNode
from nodes.protocol import CheckOrder, StoredFrame
from nodes.storage.memory import MemoryStore
from pipelines.continuity.findings import Requeue, Severity
from pipelines.continuity.report import CutReport
from pipelines.exr import encode_frame, timecode
from pipelines.render.engines.base import CameraPose, RenderedFrame
from pipelines.render.reported import attributes_of
from pipelines.spec.sequence import Sequence
from tests.pipelines.continuity.reported_sets import HERO, MARKS, around, blend_sequence
from tests.pipelines.continuity.synthetic import frame, mirrored

FPS = Fraction(24)


def stored(
    store: MemoryStore, shot: str, number: int, pixels: np.ndarray, camera: CameraPose | None, objects: dict | None = None
) -> StoredFrame:
    """A frame as the render node stores it: the engine's report in the EXR header beside the pixels."""
    rendered = RenderedFrame(frame=number, pixels=pixels, camera=camera, objects=objects or {})
    data = encode_frame(pixels, fps=FPS, timecode=timecode(number - 1001, FPS), attributes=attributes_of(rendered))
    key = f"demo/sq010/shots/{shot}/v1/a1/{number:06d}.exr"
    return StoredFrame(frame=number, key=key, digest=store.put(key, data))


def order(seq: Sequence, left: StoredFrame | None, right: StoredFrame | None, **neighbours: StoredFrame) -> CheckOrder:
    return CheckOrder(
        sequence_id="demo:sq010",
        cut="sh010>sh020",
        left="sh010",
        right="sh020",
        fingerprint="sh010:1:|sh020:1:",
        spec=seq.model_dump(mode="json"),
        left_frame=left,
        right_frame=right,
        report_prefix="demo/sq010/continuity",
        **neighbours,
    )


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


WATCHED = {"hero": HERO, **MARKS}


def test_a_camera_crossing_the_line_in_a_blend_shot_is_found_from_the_frame_headers(store):
    px = frame(3)
    left = stored(store, "sh010", 1024, px, around(-30), WATCHED)
    right = stored(store, "sh020", 1025, mirrored(px), around(160), WATCHED)
    result = CheckNode(store).check(order(blend_sequence(), left, right))
    (f,) = [f for f in result.findings if f.rule == "axis_180"]
    assert f.severity is Severity.ERROR
    assert isinstance(f.fix, Requeue) and f.fix.shot == "sh020"
    assert f.fix.patch == {"blender": {"camera_move": {"mirror": {"a": [-5.0, 0.0, 0.0], "b": [5.0, 0.0, 0.0]}}}}
    row = CutReport.model_validate(json.loads(store.get(result.report_key)))
    assert any(x.rule == "axis_180" for x in row.findings)


def test_the_neighbour_frames_headers_give_the_subject_motion_for_screen_direction(store):
    px = frame(4)
    blend = {"file": "/sets/street.blend", "subject": "hero"}
    front, back = around(0), around(180)
    left = stored(store, "sh010", 1024, px, front, {"hero": (0.0, 1.0, 0.0)})
    right = stored(store, "sh020", 1025, mirrored(px), back, {"hero": (0.1, 1.0, 0.0)})
    before = stored(store, "sh010", 1023, px, front, {"hero": (-0.1, 1.0, 0.0)})
    after = stored(store, "sh020", 1026, px, back, {"hero": (0.2, 1.0, 0.0)})
    seq = blend_sequence(blend=blend)
    result = CheckNode(store).check(order(seq, left, right, left_neighbour=before, right_neighbour=after))
    (f,) = [f for f in result.findings if f.rule == "screen_direction"]
    assert f.measured["left_speed"] > 0 > f.measured["right_speed"]
    # Without the neighbours the motion is unknown, and the rule says nothing rather than guess.
    alone = CheckNode(store).check(order(seq, left, right))
    assert [f for f in alone.findings if f.rule == "screen_direction"] == []


def test_frames_without_a_report_get_no_staging_verdict_and_a_missing_neighbour_is_no_error(store):
    px = frame(5)
    left = stored(store, "sh010", 1024, px, None)
    right = stored(store, "sh020", 1025, mirrored(px), around(160), WATCHED)
    gone = StoredFrame(frame=1026, key="demo/sq010/shots/sh020/v1/a1/001026.exr", digest="0" * 64)
    result = CheckNode(store).check(order(blend_sequence(), left, right, right_neighbour=gone))
    assert not [f for f in result.findings if f.rule in ("axis_180", "jump_cut_30", "screen_direction")]
    assert not any(f.measured.get("crashed") for f in result.findings)
