"""HDR10 in one pass: each frame encoded as it is measured, the light levels written after.

``hdr10_from_master`` reads a master twice, because MaxCLL/MaxFALL go into
the stream's headers before its first picture. Here the frames are read
once, so they can arrive as the master is stitched: x265 encodes with
placeholder levels (its pictures do not depend on them), its packets wait,
and once the last frame is measured the levels are written into the
headers' SEI (pipelines.master.light_sei) and the packets muxed. The file is
byte for byte the one the two passes write
(tests/pipelines/test_hdr10_measured.py).

The packets wait in memory as the encoder made them: the muxer reads more
than their bytes from them (which are disposable B-frames, written to the
file's sdtp box), and PyAV can set that on no packet of its own. That is
the compressed stream, not its frames, and it is bounded: past
``max_held`` bytes the encode stops with StreamTooLong, so a caller reads
the master twice instead (hdr10_from_master). It must never leave a partial
file under the output's name.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from pipelines.color.pq import BT2020_KB, BT2020_KR
from pipelines.color.views import describe, hdr_pq
from pipelines.master.convert import FrameConverter, Picture
from pipelines.master.hdr10 import (
    HDR10_VUI,
    HDR10Report,
    add_hdr10_stream,
    combine_light_levels,
    encode_frames,
    prefetched,
    written_whole,
)
from pipelines.master.light_sei import SEIError, set_light_levels

PLACEHOLDER = (65535, 65535)
"""The levels x265 is given; any do, as long as MaxFALL <= MaxCLL (it checks)."""


class StreamTooLong(ValueError):
    """The encoded stream outgrew what may wait in memory for its light levels."""


MAX_HELD = 1 << 30
"""Bytes of encoded stream that may wait for the light levels (1 GiB: about 10,000 1080p frames at crf 18)."""


def encode_hdr10_measured(
    frames: Iterable[np.ndarray],
    path: str | os.PathLike[str],
    *,
    fps: Fraction,
    width: int,
    height: int,
    crf: int = 18,
    preset: str = "fast",
    peak_nits: int = 1000,
    exact: bool = False,
    max_held: int = MAX_HELD,
) -> HDR10Report:
    """Encode scene-linear ACEScg (H, W, 3) frames as an HDR10 .mp4 declaring the light levels they reach.

    ``frames`` is consumed once, on a worker thread a frame or two ahead; it
    may wait for its next frame as long as it likes. Raises SEIError if the
    encoder's headers carry no light-level SEI to set, StreamTooLong past
    ``max_held`` bytes of stream, leaving no file either way.
    """
    view = hdr_pq(peak_nits)
    path = Path(path)
    start = time.perf_counter()
    levels: list[tuple[float, float]] = []
    with written_whole(path) as tmp:
        with av.open(str(tmp), "w", format="mp4") as container:
            stream = add_hdr10_stream(container, fps=fps, width=width, height=height, maxcll=PLACEHOLDER[0],
                                      maxfall=PLACEHOLDER[1], peak_nits=peak_nits, preset=preset, crf=crf)  # fmt: skip
            convert = FrameConverter(view, width=width, height=height, kr=BT2020_KR, kb=BT2020_KB, bits=10, exact=exact, levels=True)

            def measured(pictures: Iterable[Picture]) -> Iterator[av.VideoFrame]:
                for picture in pictures:
                    assert picture.levels is not None
                    levels.append(picture.levels)
                    yield picture.frame

            held: list[av.Packet] = []
            size = 0

            def keep(packets: list[av.Packet]) -> None:
                nonlocal size
                held.extend(packets)
                size += sum(p.size for p in packets)
                if size > max_held:
                    raise StreamTooLong(f"more than {max_held} bytes of HEVC stream waiting for the light levels")

            with contextlib.closing(prefetched(frames, convert)) as pictures:
                count = encode_frames(container, stream, measured(pictures), HDR10_VUI, mux=keep)
            maxcll, maxfall = combine_light_levels(levels)
            _mux_with_levels(container, stream, held, maxcll, maxfall)
    return HDR10Report(
        path=str(path),
        frames=count,
        maxcll=maxcll,
        maxfall=maxfall,
        seconds=time.perf_counter() - start,
        transform=describe(view, exact=exact),
    )


def _mux_with_levels(
    container: av.container.OutputContainer,
    stream: av.VideoStream,
    held: list[av.Packet],
    maxcll: int,
    maxfall: int,
) -> None:
    """The headers' levels set, then every packet muxed in order, a keyframe's SEI set too."""
    extradata, found = set_light_levels(stream.codec_context.extradata or b"", maxcll, maxfall)
    if not found:
        raise SEIError("the encoder's headers carry no content-light-level SEI")
    # The muxer copies the headers from the codec context when it writes the file's header, at the first packet.
    stream.codec_context.extradata = extradata
    for i, p in enumerate(held):
        if p.is_keyframe:  # repeat-headers: every keyframe carries the headers and their SEI
            if p.is_disposable:
                raise SEIError("a disposable keyframe, which no packet made here can be")
            data, found = set_light_levels(bytes(p), maxcll, maxfall)
            if i == 0 and not found:
                raise SEIError("the first picture carries no content-light-level SEI")
            patched = av.Packet(data)
            patched.stream = stream
            patched.time_base = p.time_base
            patched.pts, patched.dts, patched.duration = p.pts, p.dts, p.duration
            patched.is_keyframe = True
            p = patched
        container.mux(p)
        held[i] = None  # type: ignore[call-overload]  # muxed: let it go
