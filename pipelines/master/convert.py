"""Master frames to an encoder's pictures, a band of rows at a time.

Each band of rows goes through the whole chain while its few hundred
kilobytes are still in cache: the view (pipelines.color.views), an overlay
such as a burnt-in label, the light levels, and narrow-range 4:2:0 Y'CbCr
(pipelines.color.pq) written straight into the PyAV frame's planes, with no
full-frame float buffers and no copy into the frame afterwards.

The codes are those of ``to_display_planar`` then ``planar_ycbcr420``, and
the light levels those of ``planar_light_levels``, bit for bit (the tests
compare them): every step works per pixel or per pair of rows, and the mean
luminance is taken once over the whole frame, in the same order.

A converter must never modify the pixels it is given, and serves one thread
at a time (its band buffers are reused from frame to frame).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import av
import numpy as np

from pipelines.color.pq import MEAN_STEPS, mean_nits_of_steps, pq_decode, ycbcr420_into
from pipelines.color.views import View, display_into

BAND_ROWS = 32
"""Rows per band: the view's output and the Y'CbCr temporaries of 32 1080p rows stay within a core's L2 cache."""


class Overlay(NamedTuple):
    """Something drawn on the display signal of a frame's bottom ``rows`` rows before Y'CbCr, e.g. a label."""

    rows: int
    draw: Callable[[np.ndarray], None]
    """Draws in place on those rows' display planes, (3, rows, W) in [0, 1]."""


class Picture(NamedTuple):
    frame: av.VideoFrame
    levels: tuple[float, float] | None
    """(max, mean) of max(R, G, B) in cd/m^2 for a PQ view measured for light levels, else None."""


class FrameConverter:
    """Scene-linear ACEScg (H, W, 3) frames -> narrow-range 4:2:0 Y'CbCr PyAV frames for one view and matrix."""

    def __init__(
        self,
        view: View,
        *,
        width: int,
        height: int,
        kr: float,
        kb: float,
        bits: int,
        exact: bool = False,
        levels: bool = False,
        band_rows: int = BAND_ROWS,
    ):
        if width % 2 or height % 2:
            raise ValueError(f"4:2:0 needs an even width and height, got {width}x{height}")
        if band_rows < 2 or band_rows % 2:
            raise ValueError(f"band_rows must be even and at least 2, got {band_rows}")
        self.view, self.width, self.height, self.exact = view, width, height, exact
        self.kr, self.kb, self.bits = kr, kb, bits
        self.pix_fmt = "yuv420p" if bits == 8 else "yuv420p10le"
        self.dtype = np.uint8 if bits == 8 else np.uint16
        self.band_rows = band_rows
        self.measure = levels
        self._band = np.empty((3, band_rows, width), np.float32)
        self._max = np.empty((band_rows, width), np.float32)
        self._steps = np.empty((height, width), np.uint16) if levels else None

    def __call__(self, rgb: np.ndarray, overlay: Overlay | None = None) -> Picture:
        """The frame's picture (and light levels when measured); ``overlay`` drawn on its bottom rows."""
        self._check(rgb)
        frame = av.VideoFrame(self.width, self.height, self.pix_fmt)
        planes = [self._plane(frame, i) for i in range(3)]
        peak = self._bands(rgb, overlay, planes)
        return Picture(frame, self._levels(peak))

    def light_levels(self, rgb: np.ndarray) -> tuple[float, float]:
        """(max, mean) of max(R, G, B) in cd/m^2 alone, for a pass that only measures."""
        if self._steps is None:
            raise ValueError("this converter does not measure light levels")
        self._check(rgb)
        levels = self._levels(self._bands(rgb, None, None))
        assert levels is not None
        return levels

    def _check(self, rgb: np.ndarray) -> None:
        if not isinstance(rgb, np.ndarray) or rgb.shape != (self.height, self.width, 3):
            got = getattr(rgb, "shape", type(rgb))
            raise ValueError(f"a frame is {got}, expected ({self.height}, {self.width}, 3)")

    def _plane(self, frame: av.VideoFrame, i: int) -> np.ndarray:
        """Plane ``i`` of a new frame as an array of its visible samples (rows padded to line_size)."""
        plane = frame.planes[i]
        rows, cols = (self.height, self.width) if i == 0 else (self.height // 2, self.width // 2)
        itemsize = np.dtype(self.dtype).itemsize
        samples: np.ndarray = np.frombuffer(memoryview(plane), dtype=self.dtype)
        return samples.reshape(-1, plane.line_size // itemsize)[:rows, :cols]

    def _bands(self, rgb: np.ndarray, overlay: Overlay | None, planes: list[np.ndarray] | None) -> float:
        """Converts every band; returns the largest PQ max(R, G, B) signal when measuring, else 0."""
        h = self.height
        # The overlay's rows go through in one band of their own, starting on an
        # even row (chroma pairs rows), so the overlay sees them all at once.
        last = h if overlay is None else max(0, h - overlay.rows) & ~1
        if h - last > self.band_rows:
            self._band = np.empty((3, h - last, self.width), np.float32)
            self._max = np.empty((h - last, self.width), np.float32)
        peak = 0.0
        starts = list(range(0, last, self.band_rows))
        bounds = [(a, min(a + self.band_rows, last)) for a in starts] + ([(last, h)] if last < h else [])
        for a, b in bounds:
            band = self._band[:, : b - a]
            display_into(rgb[a:b], self.view, band, exact=self.exact)
            if overlay is not None and b == h:
                overlay.draw(band[:, max(0, h - overlay.rows) - a :])
            if self._steps is not None:
                peak = max(peak, self._measure(band, self._steps[a:b]))
            if planes is not None:
                y, cb, cr = planes
                out = (y[a:b], cb[a // 2 : b // 2], cr[a // 2 : b // 2])
                ycbcr420_into(band[0], band[1], band[2], out, kr=self.kr, kb=self.kb, bits=self.bits)
        return peak

    def _measure(self, band: np.ndarray, steps: np.ndarray) -> float:
        """max(R, G, B) of a band into its mean-luminance steps; returns the band's largest signal."""
        # PQ is monotonic: the channel max is taken on the signal (as planar_light_levels does).
        m = self._max[: band.shape[1]]
        np.maximum(band[0], band[1], out=m)
        np.maximum(m, band[2], out=m)
        peak = float(m.max())
        # The signal is in [0, 1] already (display_into clips), so pq_mean_nits's clip is a no-op here.
        m *= np.float32(MEAN_STEPS)
        np.rint(m, out=steps, casting="unsafe")
        return peak

    def _levels(self, peak: float) -> tuple[float, float] | None:
        if self._steps is None:
            return None
        return float(pq_decode(peak)), mean_nits_of_steps(self._steps)
