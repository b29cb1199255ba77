"""Rec.709 SDR review proxy: 8-bit H.264 (HEVC if the PyAV build lacks x264).

For dailies and editorial review, not delivery. Pixels go through the
pinned config's ``Rec.1886 Rec.709 - Display`` / ``ACES 2.0 - SDR 100 nits
(Rec.709)`` view (pipelines.color.views, baked, or OCIO's exact processor
with ``exact=True``): the same ACES 2.0 output transform as the HDR10
master and, on an sRGB screen, the farm's thumbnails. The file is tagged
BT.709, which players and reference monitors decode with BT.1886. Y'CbCr
conversion uses the BT.709 matrix in our own numpy math
(pipelines.color.pq), never swscale's guesswork. An optional per-frame
text (shot and frame) is burnt into a darkened strip at the bottom.

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

from pipelines.color.views import SDR_REC1886, describe
from pipelines.master.convert import FrameConverter, Overlay
from pipelines.master.hdr10 import encode_frames, prefetched, set_vui, written_whole

BT709_KR, BT709_KB = 0.2126, 0.0722
# VUI code points (ITU-T H.273): BT.709 primaries, transfer and matrix; limited range.
BT709_VUI = (1, 1, 1, 1)


class SDRReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    frames: int
    codec: str
    seconds: float
    transform: str = ""


def proxy_codec() -> str:
    """libx264 when this PyAV build has it, else libx265 (8-bit HEVC)."""
    return "libx264" if "libx264" in av.codecs_available else "libx265"


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)  # Pillow's bundled font: no system fonts needed


def _strip_height(h: int) -> int:
    return min(h, max(12, h // 12))


def burn_text(rgb8: np.ndarray, text: str) -> np.ndarray:
    """Draw ``text`` in white on a darkened strip along the bottom, in place."""
    strip_h = _strip_height(rgb8.shape[0])
    _burn_strip(rgb8[rgb8.shape[0] - strip_h :], text)
    return rgb8


def burn_planes(planes: np.ndarray, text: str) -> np.ndarray:
    """``burn_text`` on display-signal planes (3, H, W) in [0, 1], in place.

    Only the strip is quantised to 8 bits to draw on; the picture above it
    keeps its full precision until the Y'CbCr conversion.
    """
    h = planes.shape[1]
    _burn_strip_planes(planes[:, h - _strip_height(h) :], text)
    return planes


def burn_overlay(height: int, text: str) -> Overlay:
    """``burn_planes`` for a frame ``height`` rows tall, as a converter's overlay on its bottom rows."""
    return Overlay(rows=_strip_height(height), draw=lambda strip: _burn_strip_planes(strip, text))


def _burn_strip_planes(strip: np.ndarray, text: str) -> None:
    strip8 = np.ascontiguousarray(np.rint(strip.transpose(1, 2, 0) * 255.0), dtype=np.uint8)
    _burn_strip(strip8, text)
    strip[:] = strip8.transpose(2, 0, 1) * np.float32(1 / 255)


def _burn_strip(strip: np.ndarray, text: str) -> None:
    strip_h = strip.shape[0]
    strip //= 4  # darken rather than blank, so the picture under it stays readable
    img = Image.fromarray(strip)
    font = _font(max(8, strip_h - 4))
    ImageDraw.Draw(img).text((4, strip_h // 2), text, fill=(255, 255, 255), font=font, anchor="lm")
    strip[:] = np.asarray(img)


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
    exact: bool = False,
) -> SDRReport:
    """Encode scene-linear ACEScg (H, W, 3) frames as a Rec.709 8-bit 4:2:0 .mp4.

    ``burn_in(i)`` gives the text for the i-th frame (0-based), e.g.
    "sh010  1012"; it is called on the worker thread that converts frames
    ahead of the encoder. Frames are streamed; the file appears only when
    complete. ``exact``: OCIO's processor instead of the baked view (about
    25x slower), for final delivery.
    """
    path = Path(path)
    codec = proxy_codec()
    start = time.perf_counter()
    with written_whole(path) as tmp:
        with av.open(str(tmp), "w", format="mp4") as container:
            options = {"preset": preset, "crf": str(crf)}
            if codec == "libx265":
                options["x265-params"] = "log-level=error"
            stream = container.add_stream(codec, rate=Fraction(fps), options=options)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            set_vui(stream.codec_context, BT709_VUI)
            labels = itertools.count()  # the worker numbers frames as it converts them
            # Frames are converted ahead on a worker thread, a frame at a time (each frame's rows
            # split with a helper thread, convert.FrameConverter).
            converter = FrameConverter(SDR_REC1886, width=width, height=height, kr=BT709_KR, kb=BT709_KB, bits=8, exact=exact)

            def convert(rgb: np.ndarray) -> av.VideoFrame:
                i = next(labels)
                if rgb.shape != (height, width, 3):
                    raise ValueError(f"frame {i} is {rgb.shape}, expected ({height}, {width}, 3)")
                return converter(rgb, None if burn_in is None else burn_overlay(height, burn_in(i))).frame

            with contextlib.closing(prefetched(frames, convert)) as converted:
                count = encode_frames(container, stream, converted, BT709_VUI)
    return SDRReport(
        path=str(path),
        frames=count,
        codec=codec,
        seconds=time.perf_counter() - start,
        transform=describe(SDR_REC1886, exact=exact),
    )
