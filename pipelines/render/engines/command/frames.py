"""Read a frame another program wrote: the beauty's R, G, B, placed in the display window.

DCCs name their channels as they like: plain R, G, B; a layer such as
`ViewLayer.Combined.R` or `beauty.R`; a part per pass in a multi-part file.
The beauty is, in order: unlayered R, G, B; a layer named like a beauty
(combined, beauty, rgba, rgb, color, colour: the last dot-separated word);
else the first layer that has all three. A file with none, or whose beauty
is integer, subsampled or deep, is refused with what it does have.

A frame must be the sequence's size (its display window); a data window
smaller than the display window (a bounding box) is padded with black, a
larger one (overscan) is cropped. Non-finite pixels are refused here, named
with the frame and its file, rather than later by the codec.

This module must never run a program or write a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import OpenEXR

BEAUTY_NAMES = ("combined", "beauty", "rgba", "rgb", "color", "colour")
MAX_OVERSCAN = 4
"""A data window may cover at most this many times the display window's area: a bound on memory before decoding."""
MAX_PLANES = 256
"""A file may hold at most this many frame-sized channels in all (about 85 RGB passes): the bindings decode every part."""
_SHOWN = 12


class FrameOutputError(RuntimeError):
    """The program exited 0 but a frame is missing, unreadable, the wrong size or not finite.

    Transient like a crash: a DCC that wrote nothing may have died quietly; another attempt decides.
    """


@dataclass(frozen=True)
class Foreign:
    """One frame as the program wrote it."""

    pixels: np.ndarray
    """(height, width, 3) float32 in the program's colour space."""
    header: dict[str, Any]
    """The beauty part's header, with the first part's camera matrices where the beauty's has none."""
    layer: str
    """The channel prefix the beauty came from ('' for plain R, G, B)."""


def read(path: Path, frame: int, size: tuple[int, int]) -> Foreign:
    """The beauty of `path`, which must be `size` (width, height) pixels."""
    what = f"frame {frame} ({path})"
    if not path.is_file():
        raise FrameOutputError(f"{what}: the program wrote no file there")
    try:
        with OpenEXR.File(str(path), header_only=True) as exr:
            headers = [dict(part.header) for part in exr.parts]
    except Exception as e:  # the bindings raise RuntimeError/ValueError for files they cannot read
        raise FrameOutputError(f"{what}: not a readable OpenEXR file: {e}") from None
    index, layer = _beauty(headers, what)
    header = headers[index]
    window = _window(header, "displayWindow", what)
    data = _window(header, "dataWindow", what)
    width, height = window[2] - window[0] + 1, window[3] - window[1] + 1
    if (width, height) != tuple(size):
        raise FrameOutputError(f"{what}: is {width}x{height}, the sequence renders {size[0]}x{size[1]}: pass {{width}} and {{height}} to the program")
    _bounded(headers, width * height, what)
    rgb = _decode(path, index, layer, what)
    pixels = _into_display_window(rgb, data, window)
    bad = int((~np.isfinite(pixels)).any(axis=2).sum())
    if bad:
        raise FrameOutputError(f"{what}: {bad} pixels are not finite (NaN or infinity)")
    for key in ("worldToCamera", "worldToNDC"):
        if key not in header and key in headers[0]:
            header[key] = headers[0][key]
    return Foreign(pixels=pixels, header=header, layer=layer)


def _bounded(headers: list[dict[str, Any]], area: int, what: str) -> None:
    planes = 0
    for header in headers:
        box = _window(header, "dataWindow", what)
        part = (box[2] - box[0] + 1) * (box[3] - box[1] + 1)
        if part > MAX_OVERSCAN * area:
            raise FrameOutputError(f"{what}: its data window {box} is over {MAX_OVERSCAN}x the frame's area")
        planes += part * len(_names(header))
    if planes > MAX_PLANES * area:
        raise FrameOutputError(f"{what}: holds over {MAX_PLANES} frame-sized channels in all; write fewer passes beside the beauty")


def _names(header: dict[str, Any]) -> list[str]:
    return [str(getattr(c, "name", c)) for c in header.get("channels", ())]


def _beauty(headers: list[dict[str, Any]], what: str) -> tuple[int, str]:
    """(part index, layer prefix with its trailing dot) of the beauty."""
    candidates: list[tuple[int, int, str]] = []  # (rank, part, layer)
    for index, header in enumerate(headers):
        if "deep" in str(header.get("type", "")).lower():
            continue
        names = set(_names(header))
        layers = sorted({n[: -1] for n in names if n.endswith((".R", ".G", ".B")) or n in ("R", "G", "B")})
        for layer in layers:
            if not all(f"{layer}{c}" in names for c in "RGB"):
                continue
            word = layer.rstrip(".").rsplit(".", 1)[-1].lower()
            rank = 0 if layer == "" else 1 if word in BEAUTY_NAMES else 2
            candidates.append((rank, index, layer))
    if not candidates:
        found = sorted({n for h in headers for n in _names(h)})
        shown = ", ".join(found[:_SHOWN]) + (f" and {len(found) - _SHOWN} more" if len(found) > _SHOWN else "")
        raise FrameOutputError(f"{what}: has no R, G, B channels to take as the beauty (it has {shown or 'no channels'})")
    rank, index, layer = min(candidates)
    return index, layer


def _window(header: dict[str, Any], key: str, what: str) -> tuple[int, int, int, int]:
    try:
        lo, hi = header[key]
        box = (int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))
    except (KeyError, TypeError, ValueError, IndexError):
        raise FrameOutputError(f"{what}: its header has no usable {key}") from None
    if box[2] < box[0] or box[3] < box[1]:
        raise FrameOutputError(f"{what}: its {key} {box} is empty")
    return box


def _decode(path: Path, index: int, layer: str, what: str) -> np.ndarray:
    try:
        with OpenEXR.File(str(path), separate_channels=True) as exr:
            channels = exr.parts[index].channels
            planes = [channels[f"{layer}{c}"] for c in "RGB"]
            for ch in planes:
                if (ch.xSampling, ch.ySampling) != (1, 1):
                    raise FrameOutputError(f"{what}: channel {ch.name} is subsampled; only full-resolution R, G, B are read")
            arrays = [np.asarray(ch.pixels) for ch in planes]
    except FrameOutputError:
        raise
    except Exception as e:
        raise FrameOutputError(f"{what}: its pixels cannot be decoded: {e}") from None
    for c, a in zip("RGB", arrays):
        if not np.issubdtype(a.dtype, np.floating):
            raise FrameOutputError(f"{what}: channel {layer}{c} holds {a.dtype} integers, not scene-linear light")
    return np.stack(arrays, axis=-1).astype(np.float32)


def _into_display_window(rgb: np.ndarray, data: tuple[int, int, int, int], window: tuple[int, int, int, int]) -> np.ndarray:
    if data == window:
        return rgb
    out = np.zeros((window[3] - window[1] + 1, window[2] - window[0] + 1, 3), np.float32)
    x0, y0 = max(data[0], window[0]), max(data[1], window[1])
    x1, y1 = min(data[2], window[2]), min(data[3], window[3])
    if x0 <= x1 and y0 <= y1:
        out[y0 - window[1] : y1 - window[1] + 1, x0 - window[0] : x1 - window[0] + 1] = rgb[y0 - data[1] : y1 - data[1] + 1, x0 - data[0] : x1 - data[0] + 1]
    return out
