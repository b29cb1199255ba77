"""Whether a machine's render nodes are rendering, and whether it drains: what a GPU pod's preStop hook does.

A render node marks its scratch folder while it renders a chunk (nodes.pool
wraps each render in `rendering`). `python -m nodes.busy --wait SECONDS`,
run by the worker pod's preStop hook, first marks the machine draining (a
file beside the scratch folders), then returns once no render node on the
machine has rendered for a quiet spell, or when SECONDS have passed:
Kubernetes then stops the pod. A render node on a draining machine refuses
every new chunk (nodes.errors.Draining), so the farm sends it elsewhere
instead of to a pod about to go; the chunk it renders finishes. The quiet
spell covers a chunk already on its way to the node when the mark was made:
it arrives, is refused, and the farm stops sending there. A mark left by a
node process that died does not count (the scratch folder's name ends in
its pid). The draining mark lasts as long as the machine's temporary
folder (a pod's emptyDir); `--resume` removes it.

It reads and writes only local files; it must never reach Ray or the farm.
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
DRAINING = "draining"
"""The file in the scratch root that says the machine is being stopped."""
QUIET_S = 5.0
"""How long nothing must render before the wait ends: longer than the farm takes to send the
next chunk once one is done, so a chunk on its way is refused here rather than lost with the pod."""


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


def drain(root: Path) -> None:
    """Mark the machine draining: its render nodes take no new chunk from now on."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    (root / DRAINING).touch()


def draining(root: Path) -> bool:
    return (root / DRAINING).exists()


def resume(root: Path) -> None:
    """Undo `drain`: the machine's render nodes take chunks again."""
    (root / DRAINING).unlink(missing_ok=True)


def rendering_now(root: Path) -> list[str]:
    """Scratch folders of live node processes that are rendering."""
    if not root.is_dir():
        return []
    return sorted(d.name for d in root.iterdir() if (d / MARK).exists() and _alive(d.name.rpartition("-")[2]))


def wait_idle(root: Path, seconds: float, poll: float = 1.0, quiet: float = 0.0) -> bool:
    """True once nothing has rendered here for `quiet` seconds; False if something still renders after `seconds`."""
    deadline = time.monotonic() + seconds
    idle_since = None
    while True:
        now = time.monotonic()
        if rendering_now(root):
            idle_since = None
            if now >= deadline:
                return False
        else:
            idle_since = now if idle_since is None else idle_since
            if now - idle_since >= quiet or now >= deadline:
                return True
        time.sleep(min(poll, max(0.0, deadline - now)) or poll)


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
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--wait", type=float, metavar="SECONDS", help="mark the machine draining, then wait at most this long; keep it under the pod's grace period")
    what.add_argument("--resume", action="store_true", help="remove the draining mark: the render nodes here take chunks again")
    parser.add_argument("--quiet", type=float, default=QUIET_S, metavar="SECONDS", help=f"how long nothing must render before the wait ends (default {QUIET_S:g})")
    parser.add_argument("--root", type=Path, default=None, help="scratch folders' root (default: the render nodes')")
    args = parser.parse_args(argv)
    root = args.root or scratch_root()
    if args.resume:
        resume(root)
        return 0
    drain(root)
    idle = wait_idle(root, args.wait, quiet=args.quiet)
    if not idle:
        print(f"still rendering after {args.wait:g} s: {', '.join(rendering_now(root))}", file=sys.stderr)
    return 0 if idle else 1


if __name__ == "__main__":
    sys.exit(main())
