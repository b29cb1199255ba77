"""Rec.709 SDR review proxy: 8-bit H.264 (HEVC if the PyAV build lacks x264).

For dailies and editorial review, not delivery. Pixels are tone mapped
exactly as the farm's thumbnails and contact sheets are
(pipelines.color.display.to_display_srgb), then re-encoded for a BT.1886
display (gamma 2.4, zero black level) instead of sRGB: the file is tagged
BT.709, which players and reference monitors decode with BT.1886, so a
review monitor shows the same display light as an sRGB screen shows the
thumbnails. Y'CbCr conversion uses the BT.709 matrix in our own numpy math
(pipelines.color.pq.ycbcr420), never swscale's guesswork. An optional
per-frame text (shot and frame) is burnt into a darkened strip at the bottom.

It must never be used as a master or measured for light levels: the proxy
is display-referred, 8-bit and lossy.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import time
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, ConfigDict

from pipelines.color.display import to_display_srgb
from pipelines.color.pq import ycbcr420
from pipelines.master.hdr10 import encode_planes, prefetched, set_vui

BT709_KR, BT709_KB = 0.2126, 0.0722
# VUI code points (ITU-T H.273): BT.709 primaries, transfer and matrix; limited range.
BT709_VUI = (1, 1, 1, 1)


def _srgb_to_bt1886_table() -> np.ndarray:
    """sRGB code value -> BT.1886 (gamma 2.4, black 0) signal for the same light."""
    v = np.arange(256, dtype=np.float64) / 255.0
    light = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    return (light ** (1.0 / 2.4)).astype(np.float32)


_SRGB_TO_BT1886 = _srgb_to_bt1886_table()


class SDRReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    frames: int
    codec: str
    seconds: float


def proxy_codec() -> str:
    """libx264 when this PyAV build has it, else libx265 (8-bit HEVC)."""
    return "libx264" if "libx264" in av.codecs_available else "libx265"


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)  # Pillow's bundled font: no system fonts needed


def burn_text(rgb8: np.ndarray, text: str) -> np.ndarray:
    """Draw ``text`` in white on a darkened strip along the bottom, in place."""
    h = rgb8.shape[0]
    strip_h = min(h, max(12, h // 12))
    strip = rgb8[h - strip_h :]
    strip //= 4  # darken rather than blank, so the picture under it stays readable
    img = Image.fromarray(strip)
    font = _font(max(8, strip_h - 4))
    ImageDraw.Draw(img).text((4, strip_h // 2), text, fill=(255, 255, 255), font=font, anchor="lm")
    strip[:] = np.asarray(img)
    return rgb8


def encode_sdr_proxy(
    frames: Iterable[np.ndarray],
    path: str | os.PathLike[str],
    *,
    fps: Fraction,
    width: int,
    height: int,
    burn_in: Callable[[int], str] | None = None,
    crf: int = 20,
    preset: str = "veryfast",
) -> SDRReport:
    """Encode scene-linear ACEScg (H, W, 3) frames as a Rec.709 8-bit 4:2:0 .mp4.

    ``burn_in(i)`` gives the text for the i-th frame (0-based), e.g.
    "sh010  1012"; it is called on the worker thread that converts frames
    ahead of the encoder. Frames are streamed; the file appears only when
    complete.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    codec = proxy_codec()
    start = time.perf_counter()
    try:
        with av.open(str(tmp), "w", format="mp4") as container:
            options = {"preset": preset, "crf": str(crf)}
            if codec == "libx265":
                options["x265-params"] = "log-level=error"
            stream = container.add_stream(codec, rate=Fraction(fps), options=options)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            set_vui(stream.codec_context, BT709_VUI)
            labels = itertools.count()  # the worker numbers frames as it converts them

            def convert(rgb: np.ndarray) -> tuple[np.ndarray, ...]:
                i = next(labels)
                if rgb.shape != (height, width, 3):
                    raise ValueError(f"frame {i} is {rgb.shape}, expected ({height}, {width}, 3)")
                rgb8 = to_display_srgb(rgb)
                if burn_in is not None:
                    burn_text(rgb8, burn_in(i))
                return ycbcr420(_SRGB_TO_BT1886[rgb8], kr=BT709_KR, kb=BT709_KB, bits=8)

            with contextlib.closing(prefetched(frames, convert)) as converted:
                count = encode_planes(container, stream, converted, "yuv420p", BT709_VUI)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return SDRReport(path=str(path), frames=count, codec=codec, seconds=time.perf_counter() - start)
