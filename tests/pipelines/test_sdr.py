import json
import os
import shutil
import subprocess
from fractions import Fraction

import av
import numpy as np
import pytest

from pipelines.color.display import to_display_srgb
from pipelines.color.views import SDR_REC1886, SDR_SRGB, to_display
from pipelines.master.sdr import burn_text, encode_sdr_proxy, proxy_codec

W, H = 128, 72
FPS = Fraction(24)
STRIP = max(12, H // 12)  # burn_text's strip height
needs_ffprobe = pytest.mark.skipif(
    shutil.which("ffprobe") is None and not os.environ.get("CI"), reason="ffprobe (Debian ffmpeg) is not installed"
)


def ffprobe(*args: str) -> dict:
    exe = shutil.which("ffprobe")
    assert exe, "ffprobe is required (apt-get install ffmpeg)"
    out = subprocess.run([exe, "-v", "error", "-of", "json", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def grey_frames(n: int, value: float = 0.18) -> list[np.ndarray]:
    return [np.full((H, W, 3), value, np.float32) for _ in range(n)]


def luma_planes(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [np.frombuffer(f.planes[0], np.uint8).reshape(H, -1)[:, :W].copy() for f in c.decode(video=0)]


@needs_ffprobe
def test_proxy_is_tagged_rec709_8bit(tmp_path):
    out = tmp_path / "proxy.mp4"
    report = encode_sdr_proxy(grey_frames(3), out, fps=FPS, width=W, height=H, preset="ultrafast")
    assert report.frames == 3 and report.codec == proxy_codec()
    assert list(tmp_path.iterdir()) == [out]
    (stream,) = ffprobe(
        "-show_entries",
        "stream=codec_name,pix_fmt,color_space,color_transfer,color_primaries,color_range,nb_frames",
        str(out),
    )["streams"]
    assert stream["codec_name"] == {"libx264": "h264", "libx265": "hevc"}[report.codec]
    assert (stream["pix_fmt"], stream["color_range"]) == ("yuv420p", "tv")
    assert (stream["color_space"], stream["color_transfer"], stream["color_primaries"]) == ("bt709",) * 3
    assert stream["nb_frames"] == "3"


def test_grey_lands_on_the_code_of_the_ocio_rec1886_view(tmp_path):
    # 18% grey through the config's exact Rec.1886 / ACES 2.0 SDR view: signal
    # 0.383, narrow-range luma code 100.
    out = tmp_path / "grey.mp4"
    encode_sdr_proxy(grey_frames(2), out, fps=FPS, width=W, height=H, preset="ultrafast")
    signal = to_display(grey_frames(1)[0][:1, :1], SDR_REC1886, exact=True)[0, 0, 1]
    expected = 16 + 219 * signal
    assert expected == pytest.approx(99.9, abs=0.5)
    for y in luma_planes(out):
        assert np.abs(y.astype(float) - expected).max() <= 1.0


def test_the_proxy_and_the_thumbnails_share_the_display_light_of_one_view():
    # BT.1886 (gamma 2.4) and sRGB encode the same ACES 2.0 SDR display light.
    scene = np.geomspace(0.01, 16.0, 24, dtype=np.float32)
    frame = np.repeat(scene[None, :, None], 3, axis=2)
    bt1886 = to_display(frame, SDR_REC1886, exact=True)[0, :, 1].astype(np.float64)
    srgb = to_display(frame, SDR_SRGB, exact=True)[0, :, 1].astype(np.float64)
    srgb_light = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    np.testing.assert_allclose(bt1886**2.4, srgb_light, atol=1e-4)


def test_burn_in_changes_only_the_strip(tmp_path):
    plain, burnt = tmp_path / "plain.mp4", tmp_path / "burnt.mp4"
    frames = grey_frames(2, value=1.0)
    encode_sdr_proxy(frames, plain, fps=FPS, width=W, height=H, preset="ultrafast")
    texts = []

    def label(i: int) -> str:
        texts.append(i)
        return f"sh010  {1012 + i}"

    encode_sdr_proxy(frames, burnt, fps=FPS, width=W, height=H, burn_in=label, preset="ultrafast")
    assert texts == [0, 1]
    for a, b in zip(luma_planes(plain), luma_planes(burnt)):
        # 8 rows of margin: 4:2:0 chroma and the codec's blocks straddle the edge.
        assert np.abs(a[: H - STRIP - 8].astype(int) - b[: H - STRIP - 8]).max() <= 2  # picture untouched
        bottom = b[H - STRIP :].astype(int)
        assert bottom.min() < a[H - STRIP :].min() - 40  # darkened strip
        assert bottom.max() > np.median(bottom) + 40  # with bright text on it


def test_burn_text_differs_per_label():
    base = to_display_srgb(grey_frames(1, value=0.5)[0])
    one, two = burn_text(base.copy(), "sh010  1012"), burn_text(base.copy(), "sh020  2001")
    assert not np.array_equal(one, two)
    np.testing.assert_array_equal(one[: H - STRIP], base[: H - STRIP])
    assert (one[H - STRIP :] < base[H - STRIP :]).mean() > 0.5


def test_refuses_wrong_size_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="expected"):
        encode_sdr_proxy([np.zeros((H, W + 2, 3), np.float32)], tmp_path / "x.mp4", fps=FPS, width=W, height=H)
    assert list(tmp_path.iterdir()) == []
