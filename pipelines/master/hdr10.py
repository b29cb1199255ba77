"""HDR10 deliverable: HEVC Main10, PQ, BT.2020, with CTA-861.3 light levels.

Scene-linear ACEScg master frames go through the pinned config's ACES 2.0
PQ view (pipelines.color.views: baked, or OCIO's exact processor with
``exact=True``), then to narrow-range 4:2:0 Y'CbCr with the BT.2020
non-constant-luminance matrix (pipelines.color.pq, in our own numpy maths),
then to x265 via PyAV.
HDR10 signalling is carried twice, as decoders expect: VUI colour tags
(BT.2020 / PQ / BT.2020 NCL / limited) and SEI messages (mastering display
colour volume of a P3-D65 display, and content light level MaxCLL/MaxFALL),
repeated with every keyframe.

This module must never let swscale convert colour (it guesses and was 2
codes off in 10 bits), never hold a whole sequence in memory, and never leave
a file whose light-level SEI understates its content: the encode goes to a
temporary name, is checked against the declared MaxCLL/MaxFALL, and is only
then renamed into place.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import av
import numpy as np
from pydantic import BaseModel, ConfigDict

from pipelines.color.pq import BT2020_KB, BT2020_KR, pq_decode, pq_mean_nits
from pipelines.color.views import describe, hdr_pq
from pipelines.master.convert import FrameConverter, Picture

# SMPTE ST 2086 primaries of a P3-D65 display, in the 1/50000 units x265 wants.
_P3_D65 = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)"
_MIN_DISPLAY_NITS = 0.0001
# VUI code points (ITU-T H.273): primaries, transfer, matrix, range.
# BT.2020, PQ (ST 2084), BT.2020 non-constant luminance, limited ("tv").
HDR10_VUI = (9, 16, 9, 1)
_CTA_MAX = 65535  # MaxCLL/MaxFALL are 16-bit fields


class HDR10Report(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    frames: int
    maxcll: int
    maxfall: int
    seconds: float
    transform: str


class LightLevelError(ValueError):
    """The content is brighter than the MaxCLL/MaxFALL written into the file."""


def master_display(peak_nits: int) -> str:
    """x265's master-display string for a P3-D65 display of ``peak_nits``."""
    return f"{_P3_D65}L({round(peak_nits * 10000)},{round(_MIN_DISPLAY_NITS * 10000)})"


def _cta_round(nits: float) -> int:
    # Round half up (Python's round() is half-to-even); the fields are whole cd/m^2.
    return min(_CTA_MAX, int(np.floor(nits + 0.5)))


def frame_light_levels(frame_pq: np.ndarray) -> tuple[float, float]:
    """(max, mean) over the frame of max(R, G, B) in cd/m^2, from PQ R'G'B' (H, W, 3)."""
    pq = np.asarray(frame_pq)
    return planar_light_levels(pq[..., 0], pq[..., 1], pq[..., 2])


def master_light_levels(rgb: np.ndarray, *, peak_nits: int = 1000, exact: bool = False) -> tuple[float, float]:
    """``frame_light_levels`` of a scene-linear ACEScg (H, W, 3) master frame through the HDR10 view."""
    h, w = rgb.shape[:2]
    meter = FrameConverter(hdr_pq(peak_nits), width=w, height=h, kr=BT2020_KR, kb=BT2020_KB, bits=10, exact=exact, levels=True)
    return meter.light_levels(rgb)


def planar_light_levels(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``frame_light_levels`` for separate PQ R', G', B' planes."""
    # PQ is monotonic, so the channel max can be taken on the signal and only
    # one value per pixel decoded.
    max_rgb = np.maximum(r, g)
    np.maximum(max_rgb, b, out=max_rgb)
    # The peak is one value: decode it exactly. The average needs every pixel,
    # where a table lookup is within 0.001 nit of it (pq_mean_nits).
    peak = float(pq_decode(max_rgb.max()))
    return peak, pq_mean_nits(max_rgb)


def measure_light_levels(frames_pq: Iterable[np.ndarray]) -> tuple[int, int]:
    """(MaxCLL, MaxFALL) per CTA-861.3 Annex A over display-referred PQ frames.

    MaxCLL is the brightest max(R, G, B) of any pixel of any frame; MaxFALL
    the largest per-frame average of max(R, G, B). Both in whole cd/m^2.
    """
    return combine_light_levels(frame_light_levels(frame) for frame in frames_pq)


def combine_light_levels(per_frame: Iterable[tuple[float, float]]) -> tuple[int, int]:
    """(MaxCLL, MaxFALL) in whole cd/m^2 from each frame's (max, mean) levels."""
    cll = fall = 0.0
    n = 0
    for c, a in per_frame:
        cll, fall, n = max(cll, c), max(fall, a), n + 1
    if n == 0:
        raise ValueError("no frames to measure")
    return _cta_round(cll), _cta_round(fall)


def video_frame(planes: tuple[np.ndarray, ...], pix_fmt: str, width: int, height: int) -> av.VideoFrame:
    """Copy Y', Cb, Cr planes into a new PyAV frame (respecting its row padding)."""
    frame = av.VideoFrame(width, height, pix_fmt)
    for plane, data in zip(frame.planes, planes, strict=True):
        rows, cols = data.shape
        buf = np.frombuffer(plane, dtype=data.dtype)
        buf.reshape(-1, plane.line_size // data.itemsize)[:rows, :cols] = data
    return frame


T = TypeVar("T")
_DONE = object()


def prefetched(items: Iterable[np.ndarray], convert: Callable[[np.ndarray], T], depth: int = 2) -> Iterator[T]:
    """``convert(item)`` for each item, computed ahead in a worker thread.

    The colour work (OCIO, numpy) and x265 both release the GIL, so the next
    frame is converted while the encoder works on this one. At most ``depth``
    converted frames wait in memory. Exceptions in the worker are raised here,
    and closing the iterator early stops the worker.
    """
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(value: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(("ok", convert(item))):
                    return
            put(("ok", _DONE))
        except BaseException as e:  # handed to the consumer, which re-raises it
            put(("error", e))

    worker = threading.Thread(target=work, name="hdr10-convert", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = ready.get()
            if kind == "error":
                raise value
            if value is _DONE:
                return
            yield value
    finally:
        stop.set()
        worker.join()


X265_MAX_BFRAME_DELAY = 2
"""The most frames by which x265 holds decode timestamps back (with a B-pyramid). It times that
delay at the frame after it, so a clip no longer than this gets no valid DTS from it."""


def short_clip_in_order(packets: list[av.Packet]) -> list[av.Packet]:
    """A clip of at most X265_MAX_BFRAME_DELAY frames, its decode timestamps set to its presentation ones.

    x265 computes a DTS from the B-frame delay time it reads at the frame after
    that delay; a shorter clip comes back with DTS made from whatever the
    encoder's memory held: about -9e13 (which the MP4 muxer refuses), or, where
    a freed encoder's memory is reused, a delay that looks real and changes the
    file's bytes. A clip that short is never reordered (its last frame is a P),
    so its DTS are its PTS.
    """
    for p in packets:
        p.dts = p.pts
    return packets


@contextlib.contextmanager
def written_whole(path: Path) -> Iterator[Path]:
    """A name beside ``path`` to write a deliverable under: renamed to ``path`` once the block
    ends, removed if it raises, so the file appears only when complete."""
    tmp = path.with_name(f".{path.name}.partial")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def encode_frames(
    container: av.container.OutputContainer,
    stream: av.VideoStream,
    frames: Iterable[av.VideoFrame],
    vui: tuple[int, int, int, int],
    mux: Callable[[list[av.Packet]], object] | None = None,
) -> int:
    """Encode frames in order, muxing every packet (or handing it to ``mux``), then flush; returns how many frames."""
    mux = container.mux if mux is None else mux
    held: list[av.Packet] = []  # until the clip is longer than any B-frame delay: see short_clip_in_order
    count = 0
    for vf in frames:
        set_vui(vf, vui)
        vf.pts = count
        held += stream.encode(vf)
        count += 1
        if count > X265_MAX_BFRAME_DELAY:
            mux(held)
            held = []
    if count == 0:
        raise ValueError("no frames to encode")
    held += stream.encode(None)
    mux(short_clip_in_order(held) if count <= X265_MAX_BFRAME_DELAY else held)
    return count


def set_vui(target: object, vui: tuple[int, int, int, int]) -> None:
    """Tag a codec context or frame with (primaries, transfer, matrix, range)."""
    target.color_primaries, target.color_trc, target.colorspace, target.color_range = vui  # type: ignore[attr-defined]


def x265_params(maxcll: int, maxfall: int, peak_nits: int) -> str:
    """x265's HDR10 settings: VUI tags, mastering display and light levels in the SEI."""
    # repeat-headers: parameter sets and HDR SEI at every keyframe, so any cut point is HDR10.
    return (
        "hdr10=1:repeat-headers=1:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc:range=limited:"
        f"master-display={master_display(peak_nits)}:max-cll={maxcll},{maxfall}:hdr10-opt=1:log-level=error"
    )


def add_hdr10_stream(
    container: av.container.OutputContainer,
    *,
    fps: Fraction,
    width: int,
    height: int,
    maxcll: int,
    maxfall: int,
    peak_nits: int,
    preset: str,
    crf: int,
) -> av.VideoStream:
    """The HEVC Main10 stream of an HDR10 file, its SEI declaring ``maxcll``, ``maxfall``."""
    stream = container.add_stream(
        "libx265",
        rate=Fraction(fps),
        options={"x265-params": x265_params(maxcll, maxfall, peak_nits), "preset": preset, "crf": str(crf)},
    )
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p10le"
    stream.codec_tag = "hvc1"  # what Apple players and most MP4 validators require
    set_vui(stream.codec_context, HDR10_VUI)
    return stream


def _check_levels(maxcll: int, maxfall: int) -> None:
    if not (0 <= maxfall <= maxcll <= _CTA_MAX):
        raise ValueError(f"need 0 <= MaxFALL <= MaxCLL <= {_CTA_MAX}, got MaxCLL={maxcll} MaxFALL={maxfall}")


def encode_hdr10(
    frames: Iterable[np.ndarray],
    path: str | os.PathLike[str],
    *,
    fps: Fraction,
    width: int,
    height: int,
    maxcll: int,
    maxfall: int,
    crf: int = 18,
    preset: str = "fast",
    peak_nits: int = 1000,
    exact: bool = False,
) -> HDR10Report:
    """Encode scene-linear ACEScg (H, W, 3) frames as an HDR10 HEVC Main10 .mp4.

    ``maxcll``/``maxfall`` go into the SEI before the first frame; measure
    them first (``hdr10_from_master`` does both passes). Raises
    LightLevelError, leaving no file, if the content exceeds them.
    ``frames`` is consumed on a worker thread, one or two frames ahead.
    ``exact``: OCIO's processor instead of the baked view (about 25x slower).
    """
    _check_levels(maxcll, maxfall)
    view = hdr_pq(peak_nits)
    path = Path(path)
    start = time.perf_counter()
    seen_cll = seen_fall = 0.0
    with written_whole(path) as tmp:
        with av.open(str(tmp), "w", format="mp4") as container:
            stream = add_hdr10_stream(container, fps=fps, width=width, height=height, maxcll=maxcll, maxfall=maxfall,
                                      peak_nits=peak_nits, preset=preset, crf=crf)  # fmt: skip

            # Frames are converted ahead of the encoder on a worker thread, a frame at a time (each
            # frame's rows split with a helper thread, convert.FrameConverter), and the converter
            # hands on the encoder's frame and the light levels it measured.
            convert = FrameConverter(view, width=width, height=height, kr=BT2020_KR, kb=BT2020_KB, bits=10, exact=exact, levels=True)

            def measured(pictures: Iterable[Picture]) -> Iterator[av.VideoFrame]:
                nonlocal seen_cll, seen_fall
                for picture in pictures:
                    assert picture.levels is not None
                    c, a = picture.levels
                    seen_cll, seen_fall = max(seen_cll, c), max(seen_fall, a)
                    yield picture.frame

            # closing(): stop the worker now if encoding fails, not when the traceback dies.
            with contextlib.closing(prefetched(frames, convert)) as pictures:
                count = encode_frames(container, stream, measured(pictures), HDR10_VUI)
        if _cta_round(seen_cll) > maxcll or _cta_round(seen_fall) > maxfall:
            raise LightLevelError(
                f"content reaches MaxCLL={_cta_round(seen_cll)} MaxFALL={_cta_round(seen_fall)}, "
                f"but the file would declare {maxcll},{maxfall}"
            )
    return HDR10Report(
        path=str(path),
        frames=count,
        maxcll=maxcll,
        maxfall=maxfall,
        seconds=time.perf_counter() - start,
        transform=describe(view, exact=exact),
    )


def hdr10_from_master(
    read_frame: Callable[[int], np.ndarray],
    count: int,
    path: str | os.PathLike[str],
    *,
    fps: Fraction,
    width: int,
    height: int,
    crf: int = 18,
    preset: str = "fast",
    peak_nits: int = 1000,
    exact: bool = False,
    known_levels: Callable[[int], tuple[float, float] | None] | None = None,
) -> HDR10Report:
    """Two passes over a master: measure MaxCLL/MaxFALL, then encode with them.

    ``read_frame(i)`` returns master frame i (0-based) as ACEScg (H, W, 3);
    it is called twice per frame, so nothing is kept between passes, and
    from a worker thread that reads and converts ahead of the consumer.
    ``known_levels(i)``: frame i's ``frame_light_levels`` for this view when
    measured already (as the frame was mastered), else None; only the others
    are read in the first pass. The encode still checks every frame, so a
    wrong known level fails the encode (LightLevelError) rather than
    understating the file.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    view = hdr_pq(peak_nits)
    known = [None if known_levels is None else known_levels(i) for i in range(count)]
    unknown = [i for i, levels in enumerate(known) if levels is None]

    # Read and measured ahead on a worker thread, a frame at a time (rows split as in convert.FrameConverter).
    measure = FrameConverter(view, width=width, height=height, kr=BT2020_KR, kb=BT2020_KB, bits=10, exact=exact, levels=True)
    with contextlib.closing(prefetched((read_frame(i) for i in unknown), measure.light_levels)) as per_frame:
        maxcll, maxfall = combine_light_levels(itertools.chain((lv for lv in known if lv is not None), per_frame))
    return encode_hdr10(
        (read_frame(i) for i in range(count)),
        path,
        fps=fps,
        width=width,
        height=height,
        maxcll=maxcll,
        maxfall=maxfall,
        crf=crf,
        preset=preset,
        peak_nits=peak_nits,
        exact=exact,
    )
