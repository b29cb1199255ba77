"""A cut between two shots Blender rendered from the example set, judged and fixed from what Blender reported.

examples/blender/sequence.yaml plants a 180-degree error: sh030 looks through
CamC, across the Hero-Partner line from CamB (sh020). Real Blender renders the
boundary frames at 64x36; the frames go through the EXR codec as the render
node stores them, the rules find the crossing, and the shot rendered again
with the proposed camera_move no longer crosses.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import pytest

from pipelines.continuity.check import check_cut
from pipelines.continuity.cut import Cut
from pipelines.continuity.findings import Requeue, Severity, apply_patch
from pipelines.continuity.rules import RULES
from pipelines.continuity.staging import staging
from pipelines.exr import decode_frame, encode_frame, timecode
from pipelines.render.engines.blender.engine import BlenderEngine
from pipelines.render.reported import Reported, attributes_of, reported
from pipelines.spec.loading import load_sequence
from pipelines.spec.sequence import Sequence
from tests.pipelines.render.blender import support

STAGING = ("axis_180", "jump_cut_30", "screen_direction")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """Render (shot, first, last, camera_move) with one warm Blender; frames come back as stored and decoded."""
    python = support.blender_env()
    folder = tmp_path_factory.mktemp("blender-cut")
    blend = support.set_copy(python, folder)
    engine: BlenderEngine = support.engine(folder, python)

    def render(shot: str, first: int, last: int, camera_move=None) -> dict[int, tuple]:
        engine.load(support.setup(shot, blend, camera_move=camera_move))
        out = {}
        for f in engine.render_chunk(first, last):
            data = encode_frame(f.pixels, fps=Fraction(24), timecode=timecode(f.frame - 1001, Fraction(24)), attributes=attributes_of(f))
            pixels, header = decode_frame(data)
            out[f.frame] = (pixels, reported(header))
        return out

    yield render
    engine.close()


def example() -> Sequence:
    return load_sequence(support.EXAMPLE / "sequence.yaml").with_quality(support.SIZE, support.SAMPLES)


def cut_of(seq: Sequence, left: dict[int, tuple], right: dict[int, tuple]) -> Cut:
    (lp, lr), (rp, rr) = left[1048], right[1049]
    neighbours: tuple[tuple[int, Reported], tuple[int, Reported]] = ((1047, left[1047][1]), (1050, right[1050][1]))
    return Cut.between(seq, "sh020", "sh030", lp, rp, reported=(lr, rr), neighbours=neighbours)


def test_the_planted_crossing_is_found_from_blenders_report_and_the_mirrored_render_no_longer_crosses(rendered):
    seq = example()
    left, right = rendered("sh020", 1047, 1048), rendered("sh030", 1049, 1050)
    assert right[1049][1].camera is not None and {"Hero", "Partner"} <= set(right[1049][1].objects)
    cut = cut_of(seq, left, right)
    (f,) = [f for f in check_cut(cut) if f.rule == "axis_180"]
    assert f.severity is Severity.ERROR and isinstance(f.fix, Requeue) and f.fix.shot == "sh030"
    mirror = f.fix.patch["blender"]["camera_move"]["mirror"]
    assert mirror["a"][2] == pytest.approx(0.0, abs=1e-6) and mirror["b"][2] == pytest.approx(0.0, abs=1e-6)  # Blender's X axis

    fixed_shot = apply_patch(seq.shot("sh030"), f.fix.patch)
    predicted = staging(cut.right.with_shot(fixed_shot))
    again = rendered("sh030", 1049, 1050, camera_move=fixed_shot.blender.camera_move)
    fixed_seq = seq.model_copy(update={"shots": tuple(fixed_shot if s.name == "sh030" else s for s in seq.shots)})
    after = cut_of(fixed_seq, left, again)
    # The farm's prediction of the moved camera is where Blender put it.
    actual = staging(after.right)
    assert predicted is not None and actual is not None
    assert actual.camera.position == pytest.approx(predicted.camera.position, abs=1e-4)
    assert actual.camera.look_at == pytest.approx(predicted.camera.look_at, abs=1e-4)
    assert [g for g in check_cut(after) if g.rule in STAGING and g.severity is Severity.ERROR] == []
    assert [g.rule for g in check_cut(after) if g.rule == "axis_180"] == []


def test_cameras_on_one_side_of_the_reported_line_pass(rendered):
    seq = example()
    left, right = rendered("sh010", 1023, 1024), rendered("sh020", 1025, 1026)
    neighbours = ((1023, left[1023][1]), (1026, right[1026][1]))
    cut = Cut.between(
        seq, "sh010", "sh020", left[1024][0], right[1025][0], reported=(left[1024][1], right[1025][1]), neighbours=neighbours
    )
    m = RULES["axis_180"].measure(cut)
    assert m is not None and m["left_side"] * m["right_side"] > 0  # the line was staged, and both are on one side
    assert [f.rule for f in check_cut(cut) if f.rule == "axis_180"] == []
