"""`shotfarm render --exact`: the deliverables go through OCIO's exact view processors.

The orb glows a cyan (ACEScg 0, 5.5, 5) where the baked Rec.1886 view is
12 8-bit codes of Cb/Cr away from the exact one, so the decoded review
proxy shows which transform made it, far beyond codec error.
"""

from __future__ import annotations

import av
import numpy as np
import pytest
import yaml

from orchestrator.config.settings import FarmSettings
from orchestrator.interfaces.cli import main, parser
from pipelines.color.pq import planar_ycbcr420
from pipelines.color.views import SDR_REC1886, to_display_planar
from pipelines.exr import decode_frame
from pipelines.master.sdr import BT709_KB, BT709_KR
from tests.builders import shot, spec

pytestmark = pytest.mark.ray

W, H = 128, 72
GLOW = np.array([0.0, 5.5, 5.0], np.float32)


def glowing_spec() -> dict:
    data = spec(shot("sh010", 1001, 1002))
    data["scenes"]["set"]["materials"]["lamp"] = {"type": "emissive", "color": [0.0, 1.0, 5.0 / 5.5], "intensity": 5.5}
    return data


@pytest.fixture(scope="module")
def rendered_exact(ray_session, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("exact")
    path = tmp / "spec.yaml"
    path.write_text(yaml.safe_dump(glowing_spec()))
    out = tmp / "out"
    assert main(["render", str(path), "--out", str(out), "--resolution", f"{W}x{H}", "--exact"]) == 0
    return out


def first_frame_ycbcr(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        sizes = [(H, W), (H // 2, W // 2), (H // 2, W // 2)]
        return [np.frombuffer(p, np.uint8).reshape(h, -1)[:, :w].astype(float) for p, (h, w) in zip(frame.planes, sizes, strict=True)]


def glow_blocks(master: np.ndarray) -> np.ndarray:
    """2x2 blocks (one chroma sample each, and their neighbours) wholly inside the orb's flat glow."""
    inside = np.abs(master - GLOW).max(axis=-1) < 0.02
    blocks = inside.reshape(H // 2, 2, W // 2, 2).all(axis=(1, 3))
    # The chroma filter reaches one block left and right: keep blocks whose neighbours glow too.
    blocks[:, 1:-1] &= blocks[:, :-2] & blocks[:, 2:]
    blocks[:, [0, -1]] = False
    return blocks


def test_render_exact_encodes_the_review_proxy_through_ocios_exact_view(rendered_exact):
    out = rendered_exact
    master, _ = decode_frame((out / "demo/sq010/master/exr/001001.exr").read_bytes())
    blocks = glow_blocks(master)
    assert blocks.sum() >= 4, "the orb's glow must cover a few whole chroma blocks"
    got = first_frame_ycbcr(out / "demo/sq010/master/review_sdr.mp4")

    def expected(exact: bool) -> list[np.ndarray]:
        planes = planar_ycbcr420(*to_display_planar(master, SDR_REC1886, exact=exact), kr=BT709_KR, kb=BT709_KB, bits=8)
        return [p.astype(float) for p in planes]

    luma_blocks = np.repeat(np.repeat(blocks, 2, axis=0), 2, axis=1)
    for want, near in ((True, 2.0), (False, None)):
        exp = expected(want)
        off = max(
            np.abs(got[0] - exp[0])[luma_blocks].mean(),
            np.abs(got[1] - exp[1])[blocks].mean(),
            np.abs(got[2] - exp[2])[blocks].mean(),
        )
        if near is not None:
            assert off <= near  # codec error on a flat glow
        else:
            assert off > 6.0  # the baked view would have been this far off


def test_deliverables_are_baked_unless_exact_is_asked_for():
    assert parser().parse_args(["render", "spec.yaml"]).exact is False
    assert FarmSettings().exact is False
