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
import selectors
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
_DRAIN_S = 2.0
"""How long to read what is left in the pipe once the group is gone; longer means a process outside it holds the pipe."""
_POLL_S = 0.2
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
    output = _Output(proc.stdout, label, tail)
    try:
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc, label)
            output.finish()
            raise CommandTimedOut(f"{label}: timed out after {timeout_s:g} s; killed it and its children{_last(tail)}") from None
        _reap_stragglers(proc.pid, label)
    except BaseException:
        # An interrupt or a closing engine must not leave a DCC rendering on the node.
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        raise
    finally:
        output.finish()
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


class _Output:
    """The program's output, read on a thread as it comes and logged line by line.

    The thread owns the pipe. A process that left the group (a daemon in its
    own session) may keep the pipe open after the program is gone, so reading
    stops on request instead of waiting for an end that may never come.
    """

    def __init__(self, pipe: IO[bytes], label: str, tail: collections.deque[str]) -> None:
        self._pipe, self._label, self._tail = pipe, label, tail
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name=f"command-output {label}", daemon=True)
        self._thread.start()

    def finish(self) -> None:
        """Read what is left, then stop. Safe to call twice."""
        self._thread.join(_DRAIN_S)
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()
            log.warning("%s: a process outside the program's group still holds the program's output; stopped reading it", self._label)

    def _read(self) -> None:
        pending = b""
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self._pipe, selectors.EVENT_READ)
                while not self._stop.is_set():
                    if not selector.select(_POLL_S):
                        continue
                    data = os.read(self._pipe.fileno(), 1 << 16)
                    if not data:
                        break
                    # Progress bars redraw with carriage returns: each redraw is a line of its own.
                    *lines, pending = (pending + data).replace(b"\r", b"\n").split(b"\n")
                    while len(pending) > MAX_LINE:  # a program printing without newlines must not fill the node's memory
                        lines.append(pending[:MAX_LINE])
                        pending = pending[MAX_LINE:]
                    for raw in lines:
                        self._line(raw)
            self._line(pending)
        finally:
            self._pipe.close()

    def _line(self, raw: bytes) -> None:
        for start in range(0, len(raw), MAX_LINE):
            line = raw[start : start + MAX_LINE].decode("utf-8", errors="replace").rstrip()
            if line:
                self._tail.append(line)
                log.info("%s: %s", self._label, line)


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
        # SIGKILL lands when the kernel next schedules each process: wait (bounded) until none
        # runs, so that a chunk reported done has left nothing of its program behind.
        deadline = time.monotonic() + GRACE_S
        while _running_in_group(pgid) and time.monotonic() < deadline:
            time.sleep(0.01)


def _running_in_group(pgid: int) -> bool:
    """Whether a process of the group still runs (a zombie waiting to be reaped does not)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


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
