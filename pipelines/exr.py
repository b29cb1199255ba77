"""The frame codec: scene-linear ACEScg pixels <-> OpenEXR bytes.

Every layer that stores or reads a rendered frame goes through here, so the
file format is decided in one place: half-float R/G/B, PIZ (lossless, and
readable by ffmpeg and OIIO), ACEScg chromaticities plus ``colorInteropID``,
a rational ``framesPerSecond``, a SMPTE ``timeCode`` and the caller's metadata
under ``shotfarm/``. Encoding is byte-deterministic so a frame's content hash
identifies it.

This module must never touch storage, the network, Ray or a clock: it maps
bytes to bytes.
"""

from __future__ import annotations

import hashlib
import io
import numbers
import os
import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from typing import Any

import numpy as np
import OpenEXR

from pipelines import fused

ACESCG_CHROMATICITIES = (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767)
# OpenEXR 3.5's checkColorMetadata only checks files that name their colour
# space; writing the interop ID as well makes that QC gate meaningful.
ACESCG_INTEROP_ID = "lin_ap1_scene"
PREFIX = "shotfarm/"
# Lets decode detect corruption inside compressed pixel data, which OpenEXR
# (no checksums) otherwise decodes silently into wrong pixels.
CHECKSUM_ATTRIBUTE = PREFIX + "pixels_sha256"

HALF_MAX = 65504.0
_INT32 = (-(2**31), 2**31 - 1)
_MAX_NAME = 255  # longer attribute names are silently dropped by the writer
_TIMECODE = re.compile(r"^(\d{2}):(\d{2}):(\d{2})[:;](\d{2})$")
_DAY_SECONDS = 24 * 60 * 60
# SMPTE 12M's frame field holds 0-29; above 30 fps it counts frame pairs.
_TC_FRAME_FIELD_RATE = 30
_TC_MAX_RATE = 2 * _TC_FRAME_FIELD_RATE
# Pixels converted and hashed per step: a band that stays in a core's cache.
_BAND_BYTES = 1 << 20


def _thread_count() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))  # respects container CPU sets
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


# The library default is 0 (single-threaded); PIZ (de)compression of a 1080p
# frame is ~1.7x faster with 2 threads. Capped at 4 because frames are also
# encoded in parallel by several workers per node, and the pool is process-wide.
OpenEXR.set_global_thread_count(_thread_count())


class FrameDecodeError(ValueError):
    """The bytes are not a readable shotfarm/OpenEXR frame."""


Timecode = tuple[int, int, int, int]


def nominal_rate(fps: Fraction) -> int:
    """Timecode counts at the integer rate: 24000/1001 counts at 24."""
    rate = round(Fraction(fps))
    if rate < 1:
        raise ValueError(f"fps must be at least 1, got {fps}")
    return rate


def parse_timecode(text: str, fps: Fraction) -> Timecode:
    m = _TIMECODE.match(text)
    if not m:
        raise ValueError(f"timecode must look like HH:MM:SS:FF, got {text!r}")
    tc = (int(m[1]), int(m[2]), int(m[3]), int(m[4]))
    _check_timecode(tc, nominal_rate(fps))
    return tc


def timecode(frame_index: int, fps: Fraction, start: str = "01:00:00:00") -> Timecode:
    """Non-drop-frame timecode ``frame_index`` frames after ``start``; wraps at 24h."""
    rate = nominal_rate(fps)
    h, m, s, f = parse_timecode(start, fps)
    total = ((h * 60 + m) * 60 + s) * rate + f + frame_index
    total %= _DAY_SECONDS * rate
    seconds, frame = divmod(total, rate)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return hour, minute, second, frame


def timecode_str(frame_index: int, fps: Fraction, start: str = "01:00:00:00") -> str:
    return "{:02d}:{:02d}:{:02d}:{:02d}".format(*timecode(frame_index, fps, start))


def _check_timecode(tc: Timecode, rate: int) -> None:
    if len(tc) != 4 or not all(isinstance(v, numbers.Integral) for v in tc):
        raise ValueError(f"timecode must be four integers (h, m, s, f), got {tc!r}")
    h, m, s, f = tc
    if not (0 <= h < 24 and 0 <= m < 60 and 0 <= s < 60 and 0 <= f < rate):
        raise ValueError(f"timecode {tc!r} is out of range at {rate} fps")


def _exr_timecode(tc: Timecode, fps: Fraction) -> OpenEXR.TimeCode:
    rate = nominal_rate(fps)
    if rate > _TC_MAX_RATE:
        raise ValueError(
            f"OpenEXR's timeCode (SMPTE 12M) cannot represent {fps} fps; at most {_TC_MAX_RATE}"
        )
    _check_timecode(tc, rate)
    h, m, s, f = tc
    # TimeCode(h, m, s, f) raises in the 3.x bindings: build empty, then set fields.
    out = OpenEXR.TimeCode()
    out.hours, out.minutes, out.seconds = int(h), int(m), int(s)
    if rate > _TC_FRAME_FIELD_RATE:
        # High frame rates count frame pairs, the phase flag marking the second
        # frame of a pair (the SMPTE ST 12-1 convention).
        out.frame, out.fieldPhase = int(f) // 2, bool(int(f) % 2)
    else:
        out.frame = int(f)
    return out


def _plain_timecode(tc: OpenEXR.TimeCode, fps: object) -> Timecode:
    frame = tc.frame
    # Other writers may omit the rate or store it as a v2i; then take it as is.
    if isinstance(fps, Fraction) and fps > 0 and nominal_rate(fps) > _TC_FRAME_FIELD_RATE:
        frame = 2 * frame + int(tc.fieldPhase)
    return tc.hours, tc.minutes, tc.seconds, frame


def _custom_attributes(attributes: dict[str, str | int | float]) -> dict[str, str | int | float]:
    # The writer silently mangles what it cannot store (bools become ints,
    # ints wrap at 32 bits, long names vanish), so refuse those up front.
    out: dict[str, str | int | float] = {}
    for key, value in attributes.items():
        if not isinstance(key, str) or not key or "\x00" in key:
            raise ValueError(f"attribute names must be non-empty strings, got {key!r}")
        name = PREFIX + key
        if name == CHECKSUM_ATTRIBUTE:
            raise ValueError(f"attribute {key!r} is reserved for the codec")
        if len(name.encode()) > _MAX_NAME:
            raise ValueError(f"attribute name {name!r} is longer than {_MAX_NAME} bytes")
        if isinstance(value, (bool, np.bool_)):
            raise TypeError(f"attribute {key!r}: booleans are not stored faithfully; use 0/1 or a string")
        if isinstance(value, str):
            out[name] = value
        elif isinstance(value, numbers.Integral):
            if not _INT32[0] <= int(value) <= _INT32[1]:
                raise ValueError(f"attribute {key!r}={value} does not fit a 32-bit EXR int")
            out[name] = int(value)
        elif isinstance(value, numbers.Real):
            out[name] = float(value)  # stored as a 32-bit float by the bindings
        else:
            raise TypeError(f"attribute {key!r} must be str, int or float, got {type(value).__name__}")
    return out


def _half_pixels(rgb: np.ndarray) -> tuple[np.ndarray, str]:
    """The pixels as half floats and the checksum of their bytes, refusing what half cannot hold.

    Row band by row band: each band is range-checked and converted while it
    is still in cache, and hashed on a second thread while the next band
    converts (hashlib and numpy both release the GIL), so the checksum
    costs almost no time on top of the conversion any writer must do.
    """
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) array, got {getattr(rgb, 'shape', type(rgb))}")
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f"frame has no pixels: {rgb.shape}")
    if not np.issubdtype(rgb.dtype, np.floating):
        raise ValueError(f"expected float pixels, got {rgb.dtype}")
    half = np.empty(rgb.shape, dtype="<f2")
    fast = rgb.dtype == np.float32 and fused.halves()
    digest = hashlib.sha256()
    rows = max(1, _BAND_BYTES // max(1, rgb[0].nbytes))
    with ThreadPoolExecutor(1, "exr-checksum") as hasher:
        hashed = None
        for top in range(0, rgb.shape[0], rows):
            band = rgb[top : top + rows]
            lo, hi = float(band.min()), float(band.max())  # NaN propagates: one cheap pass
            if not (-HALF_MAX <= lo and hi <= HALF_MAX):
                _refuse(rgb)
            out = half[top : top + rows]
            if fast and band.flags.c_contiguous:
                fused.to_half(band, out)  # the same halves, 8 at a time (F16C)
            else:
                np.copyto(out, band, casting="unsafe")
            if hashed is not None:
                hashed.result()  # sha256 is sequential: bands go in order
            hashed = hasher.submit(digest.update, memoryview(out).cast("B"))
        assert hashed is not None
        hashed.result()
    return half, digest.hexdigest()


def _refuse(rgb: np.ndarray) -> None:
    bad = ~np.isfinite(rgb).all(axis=2)
    if bad.any():
        n_nan = int(np.isnan(rgb).any(axis=2).sum())
        raise ValueError(
            f"{int(bad.sum())} pixels are not finite ({n_nan} NaN, {int(bad.sum()) - n_nan} inf)"
        )
    over = int((np.abs(rgb) > HALF_MAX).any(axis=2).sum())
    raise ValueError(f"{over} pixels exceed the half-float range (|v| > {HALF_MAX:g})")


def _checksum(half: np.ndarray) -> str:
    # Little-endian half bytes, as encode hashes them band by band (no copy when already so).
    return hashlib.sha256(memoryview(np.ascontiguousarray(half, dtype="<f2")).cast("B")).hexdigest()


def _standard_attributes(standard: Mapping[str, Any], taken: Iterable[str]) -> dict[str, Any]:
    # Only what the bindings write faithfully: a string, or a 4x4 matrix (m44f,
    # as worldToCamera and worldToNDC are). The codec's own fields are not
    # the caller's to change, and shotfarm/ names go through `attributes`.
    out: dict[str, Any] = {}
    for name, value in standard.items():
        if not isinstance(name, str) or not name or "\x00" in name or len(name.encode()) > _MAX_NAME:
            raise ValueError(f"standard attribute names must be non-empty strings of at most {_MAX_NAME} bytes, got {name!r}")
        if name in taken or name.startswith(PREFIX):
            raise ValueError(f"standard attribute {name!r} is the codec's own or belongs under attributes")
        if isinstance(value, str):
            out[name] = value
            continue
        matrix = np.asarray(value, dtype=np.float64)
        if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
            raise ValueError(f"standard attribute {name!r} must be a string or a 4x4 matrix of finite numbers")
        out[name] = np.ascontiguousarray(matrix, dtype=np.float32)
    return out


def encode_frame(
    rgb: np.ndarray,
    *,
    fps: Fraction,
    timecode: Timecode,
    attributes: dict[str, str | int | float],
    standard: Mapping[str, Any] | None = None,
) -> bytes:
    """Encode scene-linear ACEScg (H, W, 3) pixels as a deterministic OpenEXR file.

    `standard` adds attributes every EXR reader knows by name, e.g.
    ``worldToCamera`` (a 4x4 matrix in OpenEXR's row-vector convention).
    Without it the bytes are exactly what they were before it existed.
    """
    half, checksum = _half_pixels(rgb)
    fps = Fraction(fps)
    header: dict[str, Any] = {
        "compression": OpenEXR.PIZ_COMPRESSION,
        "type": OpenEXR.scanlineimage,
        "lineOrder": OpenEXR.INCREASING_Y,
        "chromaticities": ACESCG_CHROMATICITIES,
        "colorInteropID": ACESCG_INTEROP_ID,
        # A Fraction is written as a rational; a (num, den) tuple would become a v2i.
        "framesPerSecond": fps,
        "timeCode": _exr_timecode(timecode, fps),
        **_custom_attributes(attributes),
        CHECKSUM_ATTRIBUTE: checksum,
    }
    if standard:
        header.update(_standard_attributes(standard, (*header, "channels", "dataWindow", "displayWindow")))
    out = io.BytesIO()
    # The "RGB" group is written as the standard R, G, B HALF channels.
    with OpenEXR.File(header, {"RGB": half}) as exr:
        exr.write(out)
    return out.getvalue()


_PIXEL_TYPES = {0: "UINT", 1: "HALF", 2: "FLOAT"}


def _channel_types(data: bytes) -> dict[str, str]:
    """Channel name -> pixel type, parsed from the first header's chlist.

    The bindings' header Channel objects carry no pixel type (``type()`` reads
    it off the pixel array, which a header has not got), so read the bytes.
    """
    pos = 8  # magic + version
    while data[pos] != 0:
        name_end = data.index(b"\0", pos)
        type_end = data.index(b"\0", name_end + 1)
        size = int.from_bytes(data[type_end + 1 : type_end + 5], "little")
        value = type_end + 5
        if data[pos:name_end] == b"channels" and data[name_end + 1 : type_end] == b"chlist":
            types, at = {}, value
            while data[at] != 0:
                end = data.index(b"\0", at)
                code = int.from_bytes(data[end + 1 : end + 5], "little")
                types[data[at:end].decode()] = _PIXEL_TYPES.get(code, str(code))
                at = end + 17  # type, pLinear + 3 reserved, xSampling, ySampling
            return types
        pos = value + size
    raise ValueError("no channels attribute")


def _plain_header(raw: dict[str, Any], data: bytes) -> dict[str, Any]:
    # Plain Python values: the header travels between processes, and the
    # bindings' Channel and TimeCode objects do not pickle.
    header = dict(raw)
    header["channels"] = _channel_types(data)
    for key in ("dataWindow", "displayWindow"):
        if key in header:
            lo, hi = header[key]
            header[key] = ((int(lo[0]), int(lo[1])), (int(hi[0]), int(hi[1])))
    if "screenWindowCenter" in header:
        header["screenWindowCenter"] = tuple(float(v) for v in header["screenWindowCenter"])
    if "timeCode" in header:
        header["timeCode"] = _plain_timecode(header["timeCode"], header.get("framesPerSecond"))
    return header


def _as_bytes(data: bytes) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FrameDecodeError(f"expected EXR bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data.startswith(b"\x76\x2f\x31\x01"):
        raise FrameDecodeError("not an OpenEXR file (bad magic number)")
    return data


def read_header(data: bytes) -> dict[str, Any]:
    """The header of an EXR frame without decoding its pixels."""
    data = _as_bytes(data)
    try:
        with OpenEXR.File(io.BytesIO(data), header_only=True) as exr:
            return _plain_header(exr.header(), data)
    except Exception as e:  # the bindings raise RuntimeError/ValueError for bad files
        raise FrameDecodeError(f"unreadable OpenEXR header: {e}") from None


def decode_frame(data: bytes) -> tuple[np.ndarray, dict[str, Any]]:
    """Decode an EXR frame to float32 (H, W, 3) pixels and its header."""
    data = _as_bytes(data)
    try:
        # Copy out inside the block: closing the File empties its dicts.
        with OpenEXR.File(io.BytesIO(data)) as exr:
            header = _plain_header(exr.header(), data)
            channels = {name: ch.pixels for name, ch in exr.channels().items()}
    except Exception as e:  # the bindings raise RuntimeError/ValueError for bad files
        raise FrameDecodeError(f"unreadable OpenEXR frame: {e}") from None
    # The bindings group R, G, B (and A) into one (H, W, 3|4) array.
    group = channels["RGB"] if "RGB" in channels else channels.get("RGBA")
    if group is None:
        raise FrameDecodeError(f"frame has no R, G, B channels (has {sorted(channels)})")
    pixels = group[..., :3]
    expected = header.get(CHECKSUM_ATTRIBUTE)
    if expected is not None and _checksum(pixels) != expected:
        raise FrameDecodeError("pixel data is corrupt: checksum mismatch")
    return pixels.astype(np.float32), header
