"""Master frames to an encoder's pictures, a band of rows at a time, on two threads.

Each band of rows goes through the whole chain while it is still in cache:
the view (pipelines.color.views), an overlay such as a burnt-in label, the
light levels, and narrow-range 4:2:0 Y'CbCr (pipelines.color.pq) written
straight into the PyAV frame's planes, with no full-frame buffers and no
copy into the frame afterwards.

Each thread converts an equal share of a frame's rows (OCIO and numpy
release the GIL). It matters most while x265 fills its lookahead: it takes
about 20 frames before it encodes its first, asking for each as fast as it
is given, so one thread converting would leave the second core nearly idle
then.

The codes are those of ``to_display_planar`` then ``planar_ycbcr420``, and
the light levels those of ``planar_light_levels``, bit for bit (the tests
compare them): every step works per pixel or per pair of rows, the peak is
a maximum, and the mean luminance an exact sum (pq.sum_nits_of_steps), the
same whichever thread adds which band.

A converter must never modify the pixels it is given, and serves one thread
at a time (its band buffers are reused from frame to frame).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import NamedTuple

import av
import numpy as np

from pipelines import fused
from pipelines.color.pq import MEAN_MAX_PIXELS, MEAN_STEPS, nits_table, pq_decode, sum_nits_of_steps, ycbcr420_into, ycbcr_matrix
from pipelines.color.views import View, display_into

BAND_ROWS = 136
"""Rows per band: about 40 numpy calls convert a band, each with a fixed cost and, with two threads,
the GIL changing hands; 136 rows (a 1080p frame's half in 4 bands) cost no more CPU than 32 on one
thread and the same on two, where 32-row bands cost 2-5 ms more per 1080p frame (about 45-50 ms)."""

THREADS = 2
"""Threads converting each frame unless a converter is given its own number: the caller's and one more."""


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
        threads: int | None = None,
    ):
        if width % 2 or height % 2:
            raise ValueError(f"4:2:0 needs an even width and height, got {width}x{height}")
        if band_rows < 2 or band_rows % 2:
            raise ValueError(f"band_rows must be even and at least 2, got {band_rows}")
        threads = THREADS if threads is None else threads
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        if levels and width * height > MEAN_MAX_PIXELS:
            raise ValueError(f"light levels are measured on frames of at most {MEAN_MAX_PIXELS} pixels")
        self.view, self.width, self.height, self.exact = view, width, height, exact
        self.kr, self.kb, self.bits = kr, kb, bits
        self.pix_fmt = "yuv420p" if bits == 8 else "yuv420p10le"
        self.dtype = np.uint8 if bits == 8 else np.uint16
        self.band_rows = band_rows
        self.measure = levels
        self.fused = fused.library() is not None
        """Light levels and Y'CbCr in one C pass over each band (pipelines.fused), else numpy's."""
        self._bands = [_Band(band_rows, width) for _ in range(threads)]
        self._pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="convert") if threads > 1 else None

    def __call__(self, rgb: np.ndarray, overlay: Overlay | None = None) -> Picture:
        """The frame's picture (and light levels when measured); ``overlay`` drawn on its bottom rows."""
        self._check(rgb)
        frame = av.VideoFrame(self.width, self.height, self.pix_fmt)
        planes = [self._plane(frame, i) for i in range(3)]
        peak, total = self._convert(rgb, overlay, planes)
        return Picture(frame, self._levels(peak, total))

    def light_levels(self, rgb: np.ndarray) -> tuple[float, float]:
        """(max, mean) of max(R, G, B) in cd/m^2 alone, for a pass that only measures."""
        if not self.measure:
            raise ValueError("this converter does not measure light levels")
        self._check(rgb)
        levels = self._levels(*self._convert(rgb, None, None))
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

    def _convert(self, rgb: np.ndarray, overlay: Overlay | None, planes: list[np.ndarray] | None) -> tuple[float, float]:
        """Converts every band, each thread an equal share of the rows; returns the largest
        PQ max(R, G, B) signal and the sum of max(R, G, B) in cd/m^2 (0, 0 unless measuring)."""
        h, n = self.height, len(self._bands)
        # The overlay's rows go through in one band of their own, starting on an
        # even row (chroma pairs rows), so the overlay sees them all at once.
        last = h if overlay is None else max(0, h - overlay.rows) & ~1
        step = max(2, -(-last // n) + 1 & ~1)  # rows per share, even
        shares = [self._split(a, min(a + step, last)) for a in range(0, last, step)] or [[]]
        if last < h:
            shares[-1].append((last, h))
        jobs = [(band, share) for band, share in zip(self._bands, shares, strict=False) if share]

        def run(band: _Band, share: list[tuple[int, int]]) -> tuple[float, float]:
            return band.convert(self, rgb, share, overlay, planes)

        futures = [self._pool.submit(run, band, share) for band, share in jobs[1:]] if self._pool is not None else []
        try:
            results = [run(*jobs[0])]
        finally:
            wait(futures)  # the helpers finish before the frame is handed on or a failure raised
        results += [f.result() for f in futures]  # re-raises a helper's failure
        # Exact sums (pq.sum_nits_of_steps): the total does not depend on how the bands were shared out.
        return max(peak for peak, _ in results), sum(total for _, total in results)

    def _split(self, a: int, b: int) -> list[tuple[int, int]]:
        """Rows a..b in bands of at most band_rows, each starting on an even row."""
        return [(start, min(start + self.band_rows, b)) for start in range(a, b, self.band_rows)]

    def _levels(self, peak: float, total: float) -> tuple[float, float] | None:
        if not self.measure:
            return None
        return float(pq_decode(peak)), total / (self.width * self.height)


class _Band:
    """One thread's buffers for a band of rows, reused from band to band and frame to frame."""

    def __init__(self, rows: int, width: int):
        self._allocate(rows, width)

    def _allocate(self, rows: int, width: int) -> None:
        self.rows = rows
        self.display = np.empty((3, rows, width), np.float32)
        self.max = np.empty((rows, width), np.float32)
        self.steps = np.empty((rows, width), np.uint16)
        self.nits = np.empty((rows, width), np.float64)

    def convert(
        self,
        c: FrameConverter,
        rgb: np.ndarray,
        bounds: list[tuple[int, int]],
        overlay: Overlay | None,
        planes: list[np.ndarray] | None,
    ) -> tuple[float, float]:
        """Converts the bands ``bounds`` of ``rgb``; returns their peak signal and sum of cd/m^2 when measuring."""
        h = c.height
        peak = total = 0.0
        for a, b in bounds:
            if b - a > self.rows:  # only an overlay's band is taller
                self._allocate(b - a, c.width)
            band = self.display[:, : b - a]
            display_into(rgb[a:b], c.view, band, exact=c.exact)
            if overlay is not None and b == h:
                overlay.draw(band[:, max(0, h - overlay.rows) - a :])
            out = None if planes is None else (planes[0][a:b], planes[1][a // 2 : b // 2], planes[2][a // 2 : b // 2])
            if out is not None and c.fused:
                m = ycbcr_matrix(c.kr, c.kb, c.bits)
                band_peak, band_total = fused.ycbcr_levels(
                    band, out, luma=m.luma, cb=m.cb, cr=m.cr, luma_offset=m.luma_offset, chroma_offset=m.chroma_offset,
                    top=m.top, table=nits_table() if c.measure else None, steps=MEAN_STEPS,
                )  # fmt: skip
            else:
                band_peak, band_total = self._measure(band) if c.measure else (0.0, 0.0)
                if out is not None:
                    ycbcr420_into(band[0], band[1], band[2], out, kr=c.kr, kb=c.kb, bits=c.bits)
            peak, total = max(peak, band_peak), total + band_total
        return peak, total

    def _measure(self, band: np.ndarray) -> tuple[float, float]:
        """The band's largest max(R, G, B) signal, and the exact sum of its max(R, G, B) in cd/m^2."""
        n = band.shape[1]
        # PQ is monotonic: the channel max is taken on the signal (as planar_light_levels does).
        m = self.max[:n]
        np.maximum(band[0], band[1], out=m)
        np.maximum(m, band[2], out=m)
        peak = float(m.max())
        # The signal is in [0, 1] already (display_into clips), so pq_mean_nits's clip is a no-op here.
        m *= np.float32(MEAN_STEPS)
        steps = self.steps[:n]
        np.rint(m, out=steps, casting="unsafe")
        return peak, sum_nits_of_steps(steps, out=self.nits[:n])
