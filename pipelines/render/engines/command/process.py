"""Run a DCC once: no shell, its own process group, a deadline, its output streamed to the log.

A DCC is a tree of processes (a wrapper, the renderer, a licence helper),
so the program starts a new session and everything it spawns shares its
process group: a timeout kills the whole group, and once the program exits
anything it left behind is killed too. Its stdout and stderr are read as
one stream, line by line, as they come, and logged; the last lines are kept
for the error message when it fails.

A DCC must not outlive its node: the program asks the kernel for SIGKILL
when the thread that started it dies (prctl PR_SET_PDEATHSIG), so a node
killed outright takes the program with it. (What the program itself started
is then orphaned; on a clean exit, an interrupt or a timeout the whole group
is killed.) The farm's own Python settings (PYTHONPATH, PYTHONHOME,
VIRTUAL_ENV) are not passed on: a DCC with its own Python must not import
the farm's packages.

A failure here is transient (a RuntimeError): a DCC crash or hang may not
recur on another node or another attempt.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger("shotfarm.engines.command")

TAIL_LINES = 50
"""Lines of output kept for the error message."""
MAX_LINE = 4096
"""Longer lines are logged in pieces: a program printing without newlines must not fill the node's memory."""
GRACE_S = 5.0
"""After a timeout the group gets SIGTERM, then SIGKILL this much later: a DCC may release its licence on SIGTERM."""
_DRAIN_S = 10.0
_PR_SET_PDEATHSIG = 1
_FARM_PYTHON = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")


class CommandFailed(RuntimeError):
    """The program exited non-zero: transient, a crash may not recur."""


class CommandTimedOut(CommandFailed):
    """The program ran past the shot's timeout_s and was killed with everything it started."""


@dataclass(frozen=True)
class Finished:
    seconds: float
    tail: tuple[str, ...]


def run(argv: Sequence[str], cwd: Path, timeout_s: float, label: str) -> Finished:
    """Run argv in cwd; log each output line as `label: line`; raise CommandFailed unless it exits 0 in time."""
    started = time.monotonic()
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    log.info("%s: running %s", label, subprocess.list2cmdline(argv))
    parent = os.getpid()
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if k not in _FARM_PYTHON},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: killpg reaches every child
        preexec_fn=lambda: _die_with_parent(parent),
    )
    assert proc.stdout is not None
    reader = threading.Thread(target=_stream, args=(proc.stdout, label, tail), name=f"command-output {label}", daemon=True)
    reader.start()
    try:
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc, label)
            reader.join(_DRAIN_S)
            raise CommandTimedOut(f"{label}: timed out after {timeout_s:g} s; killed it and its children{_last(tail)}") from None
        _reap_stragglers(proc.pid, label)
        reader.join(_DRAIN_S)
    except BaseException:
        # An interrupt or a closing engine must not leave a DCC rendering on the node.
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        raise
    finally:
        proc.stdout.close()
    if code != 0:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        raise CommandFailed(f"{label}: {os.path.basename(argv[0])} {how}{_last(tail)}")
    return Finished(seconds=time.monotonic() - started, tail=tuple(tail))


def _die_with_parent(parent: int) -> None:
    """In the child before exec: be killed when the starting thread dies; give up if it already has."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def _stream(pipe: IO[bytes], label: str, tail: collections.deque[str]) -> None:
    for raw in iter(lambda: pipe.readline(MAX_LINE), b""):
        # Progress bars redraw with carriage returns: each redraw is a line of its own.
        for part in raw.decode("utf-8", errors="replace").replace("\r", "\n").split("\n"):
            line = part.rstrip()
            if line:
                tail.append(line)
                log.info("%s: %s", label, line)


def _kill_group(proc: subprocess.Popen[bytes], label: str) -> None:
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        log.warning("%s: still running %g s after SIGTERM; killing it", label, GRACE_S)
    # Children may outlive the leader or ignore SIGTERM: the group goes either way.
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


def _reap_stragglers(pgid: int, label: str) -> None:
    if _signal_group(pgid, signal.SIGKILL):
        log.warning("%s: the program left processes running after it exited; killed them", label)


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Signal a process group; False when no process is left in it."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # the group id was reused by another user's process: not ours to touch
        return False
    return True


def _last(tail: collections.deque[str]) -> str:
    if not tail:
        return " (it printed nothing)"
    return f"; its last {len(tail)} lines:\n" + "\n".join(tail)
