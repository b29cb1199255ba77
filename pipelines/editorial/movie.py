"""Decoding a reference or previs movie into small frames for cut detection.

Any container and codec PyAV reads. Frames are scaled down as they are
decoded (cut detection needs a few thousand pixels a frame, not 4K), so a
long movie stays small in memory; `max_frames` bounds it all the same.

Reads the open binary stream it is given; must never open paths itself,
write anything, or keep full-size frames.
"""

from __future__ import annotations

from fractions import Fraction
from typing import BinaryIO

import av
import numpy as np
import torch
from pydantic import ConfigDict

from pipelines.editorial.cut import EditorialError
from pipelines.spec.scene import Frozen

DETECT_WIDTH = 64


class Movie(Frozen):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    frames: torch.Tensor
    """(N, H, W, 3) uint8 sRGB, scaled down to DETECT_WIDTH wide."""
    fps: Fraction
    width: int
    height: int
    codec: str


def read_movie(stream: BinaryIO, source: str, max_frames: int = 20_000, width: int = DETECT_WIDTH) -> Movie:
    try:
        container = av.open(stream, mode="r")
    except (av.error.FFmpegError, ValueError, OSError) as e:
        raise EditorialError(source, [("", f"not a movie PyAV can read: {e}")]) from None
    with container:
        video = next((s for s in container.streams if s.type == "video"), None)
        if video is None:
            raise EditorialError(source, [("", "the file has no video stream")])
        video.thread_type = "AUTO"
        w, h = video.codec_context.width, video.codec_context.height
        if not w or not h:
            raise EditorialError(source, [("", "the video stream has no picture size")])
        rate = video.average_rate or video.guessed_rate
        if not rate:
            raise EditorialError(source, [("", "the video stream has no frame rate")])
        small_h = max(8, round(h * width / w))
        frames = []
        try:
            for frame in container.decode(video):
                if len(frames) >= max_frames:
                    raise EditorialError(source, [("", f"longer than {max_frames} frames; split it first")])
                frames.append(frame.to_ndarray(width=width, height=small_h, format="rgb24"))
        except av.error.FFmpegError as e:
            raise EditorialError(source, [("", f"cannot decode frame {len(frames)}: {e}")]) from None
    if not frames:
        raise EditorialError(source, [("", "the video stream has no frames")])
    return Movie(
        frames=torch.from_numpy(np.stack(frames)),
        fps=Fraction(rate).limit_denominator(1001),
        width=w,
        height=h,
        codec=video.codec_context.name,
    )
