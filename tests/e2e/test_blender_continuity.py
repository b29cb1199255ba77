"""The Blender example end to end: the farm finds the camera across the line from what Blender reported, and fixes it.

examples/blender/sequence.yaml plants one error: sh030's camera object stands
across the Hero-Partner line from sh020's. The farm renders every shot in
Blender, the check reads the camera and the marks from the frames' headers,
and the fix re-renders sh030 with a mirror camera_move (the .blend untouched).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from orchestrator.config.settings import FarmSettings
from orchestrator.core.events import FixApplied, ShotRequeued
from orchestrator.eventlog.sqlite import LOG_NAME, SqliteEventLog
from orchestrator.interfaces.embedded import render
from pipelines.spec.loading import load_sequence
from tests.pipelines.render.blender import support

ROOT = Path(__file__).parents[2]


def test_the_blender_example_fixes_its_crossed_line_by_mirroring_the_camera_object(ray_session, tmp_path, monkeypatch):
    support.blender_env()
    monkeypatch.chdir(ROOT)  # the example names its .blend relative to the checkout
    before = hashlib.sha256((ROOT / "examples/blender/set.blend").read_bytes()).hexdigest()
    seq = load_sequence(ROOT / "examples/blender/sequence.yaml").with_quality(resolution=(32, 18), samples=1)
    progress = render(seq, tmp_path, FarmSettings(chunk_frames=24), poll=0.2)
    assert progress.status.value == "completed", progress.reason
    verdicts = {c.cut: c.status for c in progress.cuts}
    assert verdicts == {"sh010>sh020": "ok", "sh020>sh030": "fixed"}, verdicts
    log = SqliteEventLog(tmp_path / LOG_NAME)
    try:
        events = [e for _, e in log.read()]
    finally:
        log.close()
    (requeue,) = [e for e in events if isinstance(e, ShotRequeued)]
    assert not [e for e in events if isinstance(e, FixApplied)]  # one set, one light: nothing to grade
    assert requeue.shot == "sh030" and requeue.cut is not None
    move = requeue.shot_spec["blender"]["camera_move"]
    assert move["yaw"] is None and move["mirror"]["a"][2] == 0.0 and move["mirror"]["b"][2] == 0.0  # on the ground
    assert requeue.patch == {"blender": {"camera_move": {"mirror": move["mirror"]}}}
    assert hashlib.sha256((ROOT / "examples/blender/set.blend").read_bytes()).hexdigest() == before
