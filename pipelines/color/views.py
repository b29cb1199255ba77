"""Every picture a person sees, from one pinned OpenColorIO config.

Scene-linear ACEScg goes to a display through the config's ACES 2.0 output
transform, and only through it: the HDR10 master (``hdr_pq``: the
``Rec.2100-PQ - Display`` 1000-nit P3-limited view), the SDR review proxy
(``SDR_REC1886``: a BT.1886 / Rec.709 monitor) and thumbnails, contact
sheets, the continuity report and web previews (``SDR_SRGB``: an sRGB
screen) all come from the same config, so a look judged on a thumbnail is
the look delivered.

Baked, or exact. OCIO's exact ACES 2.0 processor costs 0.75-0.95 s of CPU
per 1920x1080 frame; each view is therefore sampled once per process on a
129^3 grid (OCIO's largest) in ACEScct, whose log2 spacing matches how the
tone scale bends, and applied by OCIO with tetrahedral interpolation in
about 27 ms per 1080p frame given planar buffers (packed RGB costs 2.4x
more). Baking costs 1.5-2 s per view, once per process. Speed does not
depend on the grid size (65^3 to 129^3 alike); accuracy does.
bench/display_bench.py measures, in one run: the baked SDR view about 30x
faster than exact, and 1.4-1.9x faster than the fitted ACES 1.0 curve the
farm used before. ``exact=True`` runs OCIO's processor itself, for final
delivery.

Baked against exact, per channel, measured on 200,000 random colours per
set (the tests assert the bracketed bounds on 40,000 others). "Rec.709
colours" are ACEScg values inside the Rec.709 gamut at 0.001..16
scene-linear, "P3 colours" the same inside P3-D65, "saturated" random
ACEScg at -0.3..1 of a level 0.001..100 (out of AP1 and past every display
gamut):
- SDR views, 8-bit codes: Rec.709 colours median 0.01, p99 0.23, p99.9 0.55,
  max 3.8 [4] (8 colours in 200,000 are over 2: saturated blues on the
  gamut's edge, where a channel of the view folds to 0); P3 colours p99
  0.26, p99.9 0.8, max 14 [15] (also bright saturated yellows at scene 4-10);
  saturated p99 0.5, max 35 [40].
- HDR PQ 1000 nits, 10-bit narrow codes: Rec.709 and P3 colours median
  0.02, p99 0.6, p99.9 1.2, max 6.8 [8]; saturated p99 0.8, max 94 [100].
  The 65^3 grid reaching ACEScct 1.5 that this replaced was p99 1.4-1.6,
  max 11-12 on realistic colours and max 148 on saturated ones.
On the 96 rendered master frames of examples/teaser.yaml (192x108, every
pixel) the baked views are within 0.53 8-bit codes (SDR) and 0.65 10-bit
codes (HDR) of exact, p99 0.14 and 0.23.
The worst cases are where the view itself has a crease (a channel reaching
the display's limit or 0, a colour crossing the gamut mapping's cusp): no
grid is fine enough there, and ``exact`` is the answer for delivery.

The config is pinned by name (not ``studio-config-latest``) so an OCIO
upgrade can never silently change the look of a delivered master.

This module must never write files or encode video, and never modify the
pixels it is given.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import numpy as np
import PyOpenColorIO as ocio
from pydantic import BaseModel, ConfigDict

OCIO_CONFIG = "ocio://studio-config-v5.0.0_aces-v2.1_ocio-v2.6"
SDR_VIEW = "ACES 2.0 - SDR 100 nits (Rec.709)"
PEAKS_NITS = (500, 1000, 2000, 4000)  # the P3-limited HDR views the config has
LUT_SIZE = 129  # OCIO's largest 3D LUT


class View(BaseModel):
    """A display and one of its views in the pinned config, and how it is baked."""

    model_config = ConfigDict(frozen=True)

    display: str
    view: str
    lut_top: float
    """ACEScct value at the top of the baked grid: past where the view reaches its peak.
    The bottom is ACEScct 0 (-0.0069 linear), so slightly negative values still land inside."""

    @property
    def name(self) -> str:
        return f"{self.display} | {self.view}"


# ACEScct 1.05 is about 410 scene-linear; the SDR views reach display white by 128.
SDR_SRGB = View(display="sRGB - Display", view=SDR_VIEW, lut_top=1.05)
SDR_REC1886 = View(display="Rec.1886 Rec.709 - Display", view=SDR_VIEW, lut_top=1.05)


def hdr_pq(peak_nits: int = 1000) -> View:
    """The PQ view for a ``peak_nits`` P3-D65 mastering display (what HDR10 declares)."""
    if peak_nits not in PEAKS_NITS:
        raise ValueError(f"no ACES 2.0 HDR view for a {peak_nits}-nit display; choose one of {PEAKS_NITS}")
    # ACEScct 1.3 is about 8,500 scene-linear, where the 500 and 1000-nit views are
    # within 0.05 nit of their peak; the brighter views roll off later.
    top = 1.3 if peak_nits <= 1000 else 1.5
    return View(display="Rec.2100-PQ - Display", view=f"ACES 2.0 - HDR {peak_nits} nits (P3 D65)", lut_top=top)


def describe(view: View, *, exact: bool = False) -> str:
    """Human-readable name of the transform, for reports and file metadata."""
    how = "exact" if exact else f"{LUT_SIZE}^3 LUT"
    return f"{OCIO_CONFIG} | {view.name} | {how}"


@functools.cache
def config() -> Any:
    return ocio.Config.CreateFromFile(OCIO_CONFIG)


def _view_transform(view: View) -> Any:
    return ocio.DisplayViewTransform(src="ACEScg", display=view.display, view=view.view)


@functools.cache
def _exact(view: View) -> Any:
    return config().getProcessor(_view_transform(view)).getDefaultCPUProcessor()


_baked_views: dict[View, tuple[Any, np.ndarray]] = {}
_bake_lock = threading.Lock()  # frames are converted on worker threads


def _baked(view: View) -> Any:
    """The baked view's CPU processor, made once per process.

    The samples stay referenced next to the processor in case OCIO keeps
    pointing at the buffer it was given.
    """
    with _bake_lock:
        if view not in _baked_views:
            _baked_views[view] = _bake(view)
        return _baked_views[view][0]


def _bake(view: View) -> tuple[Any, np.ndarray]:
    cfg = config()
    axis = np.linspace(0.0, view.lut_top, LUT_SIZE, dtype=np.float32)
    # OCIO's Lut3D data is ordered with blue changing fastest.
    r, g, b = np.meshgrid(axis, axis, axis, indexing="ij")
    samples = np.ascontiguousarray(np.stack([r, g, b], axis=-1).reshape(-1, 3))
    from_shaper = ocio.GroupTransform([ocio.ColorSpaceTransform(src="ACEScct", dst="ACEScg"), _view_transform(view)])
    cfg.getProcessor(from_shaper).getDefaultCPUProcessor().applyRGB(samples)
    lut = ocio.Lut3DTransform()
    lut.setGridSize(LUT_SIZE)
    lut.setData(samples.ravel())
    lut.setInterpolation(ocio.INTERP_TETRAHEDRAL)
    k = 1.0 / view.lut_top
    shaper_to_unit = ocio.MatrixTransform(matrix=[k, 0, 0, 0, 0, k, 0, 0, 0, 0, k, 0, 0, 0, 0, 1])
    group = ocio.GroupTransform([ocio.ColorSpaceTransform(src="ACEScg", dst="ACEScct"), shaper_to_unit, lut])
    return cfg.getProcessor(group).getOptimizedCPUProcessor(ocio.OPTIMIZATION_DEFAULT), samples


def to_display_planar(rgb: np.ndarray, view: View, *, exact: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """Scene-linear ACEScg (H, W, 3) -> the view's display signal as float32 (3, H, W) planes in [0, 1].

    The fast path: OCIO runs 2.4x faster on planar buffers than on packed
    RGB, which it repacks internally, and planes suit the per-channel
    Y'CbCr and light-level maths that follow. The input is not modified.
    Non-finite pixels are refused: OCIO would silently turn a NaN into a
    plausible colour. ``out``: a float32 (3, H, W) C-contiguous buffer to
    write into and return, so an encoder converting frame after frame reuses
    one buffer rather than faulting in fresh pages for every frame.
    """
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) array, got {getattr(rgb, 'shape', type(rgb))}")
    h, w, _ = rgb.shape
    planes = _planar_buffer(out, (3, h, w))
    display_into(rgb, view, planes, exact=exact)
    return planes


def display_into(rgb: np.ndarray, view: View, planes: np.ndarray, *, exact: bool = False) -> None:
    """``to_display_planar`` of (n, W, 3) rows into float32 planes (3, n, W), each plane C-contiguous.

    Pixels are independent, so a band of a frame's rows gives that band of
    the frame's display signal, bit for bit. Packed float32 rows go straight
    from the caller's buffer into the planes (OCIO reads one and writes the
    other); anything else is copied in channel by channel first.
    """
    proc = _exact(view) if exact else _baked(view)
    n, w, _ = rgb.shape
    desc = ocio.PlanarImageDesc(planes[0], planes[1], planes[2], w, n)
    if rgb.dtype == np.float32 and rgb.flags.c_contiguous:
        _refuse_non_finite(rgb, channels=2)
        proc.apply(ocio.PackedImageDesc(rgb, w, n, 3), desc)
    else:
        # Never the caller's pixels: OCIO works in place.
        for c in range(3):  # channel by channel: faster than one transposed copy
            np.copyto(planes[c], rgb[..., c], casting="unsafe")
        _refuse_non_finite(planes, channels=0)
        proc.apply(desc)
    # Extreme out-of-gamut inputs can leave the view slightly outside [0, 1].
    np.clip(planes, 0.0, 1.0, out=planes)


def to_display(rgb: np.ndarray, view: View, *, exact: bool = False) -> np.ndarray:
    """As ``to_display_planar``, packed: float32 (H, W, 3) in [0, 1]."""
    return np.ascontiguousarray(to_display_planar(rgb, view, exact=exact).transpose(1, 2, 0))


def _planar_buffer(out: np.ndarray | None, shape: tuple[int, int, int]) -> np.ndarray:
    if out is None:
        return np.empty(shape, dtype=np.float32)
    if out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"out must be a writeable C-contiguous float32 {shape} array, got {out.dtype} {out.shape}")
    return out


def _refuse_non_finite(pixels: np.ndarray, channels: int) -> None:
    """``channels``: the axis of R, G, B (0 for planes, 2 for packed pixels)."""
    # One cheap pass: NaN and inf propagate through a sum. Only a sum that
    # overflows from huge finite values needs the exact per-pixel look.
    with np.errstate(over="ignore"):
        total = pixels.sum()
    if np.isfinite(total):
        return
    bad = int((~np.isfinite(pixels)).any(axis=channels).sum())
    if bad:
        raise ValueError(f"{bad} pixels are not finite (NaN or inf); the master must not contain them")
