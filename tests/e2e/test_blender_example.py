"""examples/blender/sequence.yaml renders end to end through the Blender engine and the farm fixes its planted error."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from orchestrator.config.settings import FarmSettings
from orchestrator.interfaces.embedded import render
from pipelines.continuity import geometry
from pipelines.exr import ACESCG_CHROMATICITIES, decode_frame
from pipelines.render import reported
from pipelines.spec.base import ActionAxis
from pipelines.spec.loading import load_sequence
from pipelines.spec.sequence import Sequence
from tests.pipelines.render.blender import support

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
# Hero and Partner's ground positions: the line of action of the set.
LINE = ActionAxis(a=support.HERO_AT_FRAME_1, b=support.PARTNER)


@pytest.fixture(scope="module")
def finished(ray_session, tmp_path_factory):
    support.blender_env()
    seq = load_sequence(ROOT / "examples" / "blender" / "sequence.yaml")
    data = seq.model_dump(mode="json")
    # The example names its file relative to the checkout; the nodes may run elsewhere.
    data["scenes"]["dusk_set"]["blend"]["file"] = str(ROOT / data["scenes"]["dusk_set"]["blend"]["file"])
    seq = Sequence.model_validate(data).with_quality(resolution=(32, 18), samples=2)
    out = tmp_path_factory.mktemp("blender")
    progress = render(seq, out, FarmSettings(chunk_frames=12), poll=0.2)
    return out, seq, progress


def _frame(path: Path) -> dict:
    return decode_frame(path.read_bytes())[1]


def test_the_sequence_completes_with_a_master_of_every_cut_frame(finished):
    out, seq, progress = finished
    assert progress.status.value == "completed", progress.reason
    assert progress.master_frames == sum(len(s.frames) for s in seq.shots) == 72
    assert len(list((out / "demo/blender_set/master/exr").glob("*.exr"))) == 72


def test_the_shot_across_the_line_is_mirrored_by_a_camera_move_and_rendered_again(finished):
    out, _, progress = finished
    verdicts = {c.cut: (c.status, tuple(c.fixes)) for c in progress.cuts}
    assert verdicts == {"sh010>sh020": ("ok", ()), "sh020>sh030": ("fixed", ("axis_180: requeue",))}
    shots = out / "demo/blender_set/shots"
    first = reported.reported(_frame(next((shots / "sh010").glob("v1/*/001001.exr")))).camera
    before = reported.reported(_frame(next((shots / "sh030").glob("v1/*/001049.exr")))).camera
    after_header = _frame(next((shots / "sh030").glob("v2/*/001049.exr")))
    after = reported.reported(after_header).camera
    assert first is not None and before is not None and after is not None
    assert geometry.axis_side(LINE, first.position) * geometry.axis_side(LINE, before.position) < 0
    assert geometry.axis_side(LINE, first.position) * geometry.axis_side(LINE, after.position) > 0
    assert "mirror" in json.loads(after_header["shotfarm/blender.cameraMove"])
    assert "re-rendered" in (out / progress.deliverables["continuity.html"]).read_text()


def test_master_frames_come_from_frames_blender_rendered_and_say_so(finished):
    out, _, _ = finished
    master = out / "demo/blender_set/master/exr/001060.exr"
    header = _frame(master)
    assert header["shotfarm/shot"] == "sh030"
    source = next(p for p in (out / "demo/blender_set/shots/sh030").glob("v2/*/001060.exr"))
    assert hashlib.sha256(source.read_bytes()).hexdigest() == header["shotfarm/source_digest"]
    provenance = _frame(source)
    assert provenance["shotfarm/engine"] == "blender"
    assert provenance["shotfarm/blender.blenderVersion"] == "5.0.1"
    assert provenance["shotfarm/blender.sourceColourSpace"] == "Linear Rec.709 (sRGB)"
    assert provenance["shotfarm/blender.blenderCamera"] == "CamC"
    # The master frame itself names the engine and the conversion into ACEScg.
    assert header["shotfarm/source_engine"] == "blender"
    assert header["shotfarm/source_blender.sourceColourSpace"] == "Linear Rec.709 (sRGB)"
    assert header["shotfarm/source_blender.colourConversion"] == provenance["shotfarm/blender.colourConversion"]
    assert header["chromaticities"] == pytest.approx(ACESCG_CHROMATICITIES, abs=1e-6)


def test_hdr10_sdr_and_the_contact_sheet_are_delivered(finished):
    out, _, progress = finished
    for name in ("hdr10.mp4", "review_sdr.mp4", "continuity.json", "grades.ccc", "conform.otio"):
        assert (out / progress.deliverables[name]).stat().st_size > 0, name
    assert progress.contact_sheet is not None and (out / progress.contact_sheet).is_file()
