"""Waiting for a `shotfarm serve` process started by a test to answer."""

from __future__ import annotations

import subprocess
import time

import httpx


def wait_until_healthy(proc: subprocess.Popen, url: str, tries: int = 900) -> None:
    """Poll /healthz until it answers 200 or the process exits.

    `tries` x 0.2 s is a bound, not a timing assertion: Ray and the nodes start first.
    The caller's own requests then say what went wrong, if anything did.
    """
    for _ in range(tries):
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            return
        time.sleep(0.2)
