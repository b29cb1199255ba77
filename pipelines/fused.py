"""Colour loops in C (fused.c), where a C compiler is: the same numbers as numpy's, faster.

- The encodes' light levels and Y'CbCr codes of a band, in one pass: numpy
  takes about 16 ms of CPU a 1080p frame for them, a dozen passes over the
  band each with its own temporary; the C loop about 6 ms.
- The EXR master's half floats, 8 at a time with the CPU's F16C instruction
  where it has one: about 2 ms a 1080p frame, numpy 16 ms.

The codes, sums and halves are numpy's bit for bit
(tests/pipelines/test_fused_convert.py). It is built once per machine with
the system's C compiler, into the user's cache folder under a name made of
its source's digest, written under a temporary name and renamed, so
processes building it at the same time never load a half-written library.
Without a compiler the numpy path runs: the same bytes, slower.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("fused.c")
FLAGS = ("-O3", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC")
"""Optimised loops, but never a fused multiply-add or reassociated sum: numpy's float32 results exactly."""


def cache_folder() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "shotfarm"


@functools.cache
def library() -> ctypes.CDLL | None:
    """The built kernel, or None where no C compiler is (or it could not be built: said once)."""
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None:
        log.info("no C compiler: numpy converts colour (the same bytes, slower)")
        return None
    source = SOURCE.read_bytes()
    target = cache_folder() / f"fused-{hashlib.sha256(source + ' '.join(FLAGS).encode()).hexdigest()[:16]}.so"
    try:
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
                built = Path(tmp) / target.name
                subprocess.run([compiler, *FLAGS, "-o", str(built), str(SOURCE)], check=True, capture_output=True, timeout=120)
                os.replace(built, target)
        lib = ctypes.CDLL(str(target))
    except (OSError, subprocess.SubprocessError) as e:
        stderr = getattr(e, "stderr", b"") or b""
        log.warning("the colour kernel could not be built (%s): numpy converts instead", stderr.decode(errors="replace")[-300:] or e)
        return None
    p, n, fl = ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_float
    for f in (lib.ycbcr_levels_16, lib.ycbcr_levels_8):
        f.restype = None
        f.argtypes = [p, p, p, n, n, n, p, n, p, p, n, p, p, p, fl, fl, fl, p, fl, p, p]
    lib.half_from_float.restype, lib.half_from_float.argtypes = None, [p, p, n]
    lib.has_f16c.restype, lib.has_f16c.argtypes = ctypes.c_int, []
    return lib


@functools.cache
def halves() -> bool:
    """Whether ``to_half`` runs here: the kernel is built and the CPU converts to half floats itself (F16C)."""
    lib = library()
    return lib is not None and bool(lib.has_f16c())


def to_half(src: np.ndarray, dst: np.ndarray) -> None:
    """``np.copyto(dst, src, casting="unsafe")`` of C-contiguous float32 into float16, the same halves,
    several times faster (numpy converts one value at a time). Only where ``halves()``."""
    lib = library()
    assert lib is not None and halves(), "to_half needs the built kernel on a CPU with F16C (halves())"
    if src.dtype != np.float32 or dst.dtype != np.float16 or src.shape != dst.shape:
        raise ValueError(f"need float32 and float16 arrays of one shape, got {src.dtype} {src.shape} and {dst.dtype} {dst.shape}")
    if not (src.flags.c_contiguous and dst.flags.c_contiguous and dst.flags.writeable):
        raise ValueError("need C-contiguous arrays, the float16 one writeable")
    lib.half_from_float(_address(src), _address(dst), src.size)


def _address(a: np.ndarray) -> int:
    return int(a.ctypes.data)


def ycbcr_levels(
    band: np.ndarray,
    out: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    luma: tuple[np.float32, ...],
    cb: tuple[np.float32, ...],
    cr: tuple[np.float32, ...],
    luma_offset: np.float32,
    chroma_offset: np.float32,
    top: int,
    table: np.ndarray | None,
    steps: int,
) -> tuple[float, float]:
    """Codes of display planes ``band`` (3, rows, W) into ``out`` (Y', Cb, Cr, rows may be strided);
    with ``table``, the band's largest max(R, G, B) signal and sum of cd/m^2 (else 0, 0)."""
    lib = library()
    assert lib is not None, "ycbcr_levels needs the built kernel (library())"
    rows, width = band.shape[1:]
    if rows % 2 or width % 2 or band.strides[2] != 4 or band.dtype != np.float32:
        raise ValueError(f"need float32 planes of even size with packed rows, got {band.dtype} {band.shape}")
    y, cb_plane, cr_plane = out
    code = y.dtype
    if code not in (np.uint16, np.uint8):
        raise ValueError(f"need uint16 or uint8 code planes, got {code}")
    for plane, shape in ((y, (rows, width)), (cb_plane, (rows // 2, width // 2)), (cr_plane, (rows // 2, width // 2))):
        if plane.dtype != code or plane.shape != shape or plane.strides[1] != code.itemsize:
            raise ValueError(f"need {code} {shape} code planes with packed rows, got {plane.dtype} {plane.shape}")
    if cb_plane.strides != cr_plane.strides:
        raise ValueError("Cb and Cr planes must have the same row stride")
    weights = [np.asarray(w, np.float32) for w in (luma, cb, cr)]
    peak, total = ctypes.c_float(0.0), ctypes.c_double(0.0)
    kernel = lib.ycbcr_levels_16 if code == np.uint16 else lib.ycbcr_levels_8
    kernel(
        _address(band[0]), _address(band[1]), _address(band[2]), rows, width, band.strides[1] // 4,
        _address(y), y.strides[0] // code.itemsize, _address(cb_plane), _address(cr_plane), cb_plane.strides[0] // code.itemsize,
        *(_address(w) for w in weights), float(luma_offset), float(chroma_offset), float(top),
        None if table is None else _address(table), float(steps), ctypes.byref(peak), ctypes.byref(total),
    )  # fmt: skip
    return float(peak.value), float(total.value)
