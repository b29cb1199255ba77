"""Whether a machine's render nodes are rendering: what a GPU pod's preStop hook waits on.

A render node marks its scratch folder while it renders a chunk (nodes.pool
wraps each render in `rendering`). `python -m nodes.busy --wait SECONDS`,
run by the worker pod's preStop hook, returns once no render node on the
machine is rendering, or when SECONDS have passed: Kubernetes then stops
the pod. A mark left by a node process that died does not count (the
scratch folder's name ends in its pid).

It reads only local files; it must never reach Ray or the farm.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

MARK = "rendering"


def scratch_root() -> Path:
    """Where render nodes keep their scratch folders (nodes.actors.render._scratch_folder)."""
    return Path(tempfile.gettempdir()) / f"shotfarm-scratch-{os.getuid()}"


@contextlib.contextmanager
def rendering(scratch: Path) -> Iterator[None]:
    """Mark `scratch` (a render node's own folder) while the block runs."""
    mark = scratch / MARK
    mark.touch()
    try:
        yield
    finally:
        mark.unlink(missing_ok=True)


def rendering_now(root: Path) -> list[str]:
    """Scratch folders of live node processes that are rendering."""
    if not root.is_dir():
        return []
    return sorted(d.name for d in root.iterdir() if (d / MARK).exists() and _alive(d.name.rpartition("-")[2]))


def wait_idle(root: Path, seconds: float, poll: float = 1.0) -> bool:
    """True once nothing renders here; False if something still does after `seconds`."""
    deadline = time.monotonic() + seconds
    while rendering_now(root):
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
    return True


def _alive(pid: str) -> bool:
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nodes.busy", description=__doc__.splitlines()[0])
    parser.add_argument("--wait", type=float, required=True, metavar="SECONDS", help="the most to wait; keep it under the pod's grace period")
    parser.add_argument("--root", type=Path, default=None, help="scratch folders' root (default: the render nodes')")
    args = parser.parse_args(argv)
    idle = wait_idle(args.root or scratch_root(), args.wait)
    if not idle:
        print(f"still rendering after {args.wait:g} s: {', '.join(rendering_now(args.root or scratch_root()))}", file=sys.stderr)
    return 0 if idle else 1


if __name__ == "__main__":
    sys.exit(main())
