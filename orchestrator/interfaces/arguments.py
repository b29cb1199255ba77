"""Command-line values, bounded as the models they feed are: argparse says no (exit 2) before any work starts."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from pipelines.spec import limits


def count(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: a whole number from lo to hi."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text[:40]!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be from {lo:,} to {hi:,}, got {value:,}")
        return value

    parse.__name__ = "count"  # argparse names the type in its message
    return parse


def real(lo: float, hi: float) -> Callable[[str], float]:
    """An argparse type: a finite number from lo to hi."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
        if not (math.isfinite(value) and lo <= value <= hi):
            raise argparse.ArgumentTypeError(f"must be a number from {lo:g} to {hi:g}, got {text[:40]!r}")
        return value

    parse.__name__ = "number"
    return parse


def resolution(text: str) -> tuple[int, int]:
    """WIDTHxHEIGHT within the spec's bounds, both even (4:2:0 deliverables)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text[:40]!r}") from None
    lo, hi = limits.MIN_SIDE, limits.MAX_SIDE
    if not (lo <= w <= hi and lo <= h <= hi):
        raise argparse.ArgumentTypeError(f"width and height must be from {lo} to {hi}, got {text!r}")
    if w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"width and height must be even (4:2:0 deliverables), got {text!r}")
    return w, h


PORT = count(0, 65535)
CPUS = count(1, 4096)
CHUNK_FRAMES = count(1, 1000)
SAMPLES = count(1, limits.MAX_SAMPLES)


LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


def add_log_flags(p: argparse.ArgumentParser, top: bool) -> None:
    """--log-level and --log-format, before the command or after it.

    On the main parser (`top`) they carry the defaults; on each command's
    parser they default to nothing, so a flag given before the command is
    not overwritten by that command's default.
    """
    default = None if top else argparse.SUPPRESS
    p.add_argument("--log-level", choices=LOG_LEVELS, default=default, help="log this much and more severe (default: warning; info for serve)")
    p.add_argument("--log-format", choices=LOG_FORMATS, default=default, help="text, or json: one object per line (default: text)")


def add_output_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--output", choices=("text", "json"), default="text",
        help="json: one JSON document on stdout and nothing else there (messages go to stderr)",
    )
