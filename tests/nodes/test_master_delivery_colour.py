"""The deliverables' colour: baked views by default, OCIO's exact processors when the order says exact.

Each master frame holds two flat colours picked where the baked views are
furthest from the exact ones (11 8-bit Cb codes on the review proxy, 28
10-bit Cb codes on HDR10, 19 sRGB codes on the contact sheet), so the
decoded files show which transform made them, well beyond codec error.
"""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from nodes.actors.master import MasterNode
from nodes.protocol import DeliverOrder, SheetTile, StoredFrame
from nodes.storage.local import LocalStore
from pipelines.color.display import thumbnail
from pipelines.color.pq import planar_ycbcr420
from pipelines.color.views import SDR_REC1886, hdr_pq, to_display_planar
from pipelines.exr import decode_frame, encode_frame
from pipelines.master.contact_sheet import PADDING, TITLE_HEIGHT
from pipelines.master.sdr import BT709_KB, BT709_KR

W, H = 128, 72
SDR_TELL = (4.64453125, 5.39453125, -0.36083984375)  # a bright yellow past Rec.709
HDR_TELL = (31.5625, 32.75, -11.625)  # a brighter one, far past P3
CODEC_ERROR = 2.0  # codes, on the mean of a flat block's centre


def master_frame() -> np.ndarray:
    frame = np.empty((H, W, 3), np.float32)
    frame[:, : W // 2] = SDR_TELL
    frame[:, W // 2 :] = HDR_TELL
    return frame


@pytest.fixture
def delivered(tmp_path):
    """Deliver the same two-frame master twice, baked and exact; (store, master frame, results)."""
    store = LocalStore(tmp_path)
    data = encode_frame(master_frame(), fps=Fraction(24), timecode=(1, 0, 0, 0), attributes={"shot": "sh010"})
    frame = StoredFrame(frame=1001, key="demo/sq/master/exr/001001.exr", digest=store.put("demo/sq/master/exr/001001.exr", data))
    results = {}
    for exact in (False, True):
        order = DeliverOrder(
            sequence_id="demo:sq",
            title="demo / sq",
            frames=(frame, frame),
            key_prefix=f"demo/sq/master/{'exact' if exact else 'baked'}",
            fps=Fraction(24),
            sheet=(SheetTile(shot="sh010", label="sh010", source=frame),),
            resolution=(W, H),
            exact=exact,
        )
        results[exact] = MasterNode(str(tmp_path)).deliver(order)
    pixels, _ = decode_frame(data)  # the master as stored (half float), which is what was encoded
    return store, pixels, results


def decoded_planes(data: bytes) -> list[np.ndarray]:
    """The first frame's Y', Cb, Cr planes, as stored in the file (no conversion)."""
    with av.open(io.BytesIO(data)) as container:
        frame = next(container.decode(video=0))
        dtype = np.uint16 if "10" in frame.format.name else np.uint8
        planes = []
        for plane, (h, w) in zip(frame.planes, [(H, W), (H // 2, W // 2), (H // 2, W // 2)], strict=True):
            rows = np.frombuffer(plane, dtype).reshape(h, -1)
            planes.append(rows[:, :w].astype(np.float64))
        return planes


def centre_means(planes: list[np.ndarray], half: int) -> np.ndarray:
    """Mean Y', Cb, Cr over the middle of the left (0) or right (1) half, away from the colour edge."""
    means = []
    for p in planes:
        h, w = p.shape
        x0 = half * w // 2
        means.append(p[h // 4 : 3 * h // 4, x0 + w // 8 : x0 + 3 * w // 8].mean())
    return np.array(means)


def expected_codes(pixels: np.ndarray, view, exact: bool, bits: int, kr: float, kb: float, half: int) -> np.ndarray:
    planes = planar_ycbcr420(*to_display_planar(pixels, view, exact=exact), kr=kr, kb=kb, bits=bits)
    return centre_means([p.astype(np.float64) for p in planes], half)


@pytest.mark.parametrize("exact", [False, True], ids=["baked", "exact"])
def test_the_review_proxy_is_encoded_through_the_view_the_order_asks_for(delivered, exact):
    store, pixels, results = delivered
    got = centre_means(decoded_planes(store.get(results[exact].deliverables["review_sdr.mp4"].key)), 0)
    asked = expected_codes(pixels, SDR_REC1886, exact, 8, BT709_KR, BT709_KB, 0)
    other = expected_codes(pixels, SDR_REC1886, not exact, 8, BT709_KR, BT709_KB, 0)
    assert np.abs(got - asked).max() <= CODEC_ERROR
    assert np.abs(got - other).max() > 3 * CODEC_ERROR


@pytest.mark.parametrize("exact", [False, True], ids=["baked", "exact"])
def test_the_hdr10_master_is_encoded_through_the_view_the_order_asks_for(delivered, exact):
    store, pixels, results = delivered
    got = centre_means(decoded_planes(store.get(results[exact].deliverables["hdr10.mp4"].key)), 1)
    asked = expected_codes(pixels, hdr_pq(1000), exact, 10, 0.2627, 0.0593, 1)
    other = expected_codes(pixels, hdr_pq(1000), not exact, 10, 0.2627, 0.0593, 1)
    assert np.abs(got - asked).max() <= 2 * CODEC_ERROR  # 10-bit codes: 4x finer
    assert np.abs(got - other).max() > 10 * CODEC_ERROR


def test_exact_and_baked_deliverables_differ_by_no_more_than_the_stated_bound(delivered):
    store, _, results = delivered
    for name, bound in (("review_sdr.mp4", 40 + CODEC_ERROR), ("hdr10.mp4", 100 + 2 * CODEC_ERROR)):
        baked, exact = (decoded_planes(store.get(results[e].deliverables[name].key)) for e in (False, True))
        assert max(np.abs(b - x).max() for b, x in zip(baked, exact, strict=True)) <= bound


@pytest.mark.parametrize("exact", [False, True], ids=["baked", "exact"])
def test_the_contact_sheet_shows_the_thumbnail_the_order_asks_for(delivered, exact):
    store, pixels, results = delivered
    sheet = np.asarray(Image.open(io.BytesIO(store.get(results[exact].contact_sheet.key))).convert("RGB")).astype(int)
    asked, other = (thumbnail(pixels, 240, exact=e).astype(int) for e in (exact, not exact))
    ty, tx = asked.shape[0] // 2, asked.shape[1] // 4  # the left colour's centre in the thumbnail
    shown = sheet[TITLE_HEIGHT + ty, PADDING + tx]  # the tile's top-left is at (PADDING, TITLE_HEIGHT)
    np.testing.assert_array_equal(shown, asked[ty, tx])
    assert np.abs(shown - other[ty, tx]).max() > 5
