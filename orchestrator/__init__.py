"""shotfarm: an event-driven render farm for cinematic sequences."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def _installed_version() -> str:
    # Run from a checkout that was never installed there is no metadata to read;
    # say so with a version no release will ever carry rather than guess one.
    try:
        return version("shotfarm")
    except PackageNotFoundError:
        return "0+unknown"


__version__ = _installed_version()
