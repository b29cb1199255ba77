"""One warm Blender process on the farm's side: started, asked, timed out, restarted, stopped.

The worker (worker.py) runs under the Blender environment's Python and
answers one JSON line per request. Every request has a deadline; a Blender
that crashes, hangs or answers nonsense is killed and raises BlenderCrashed,
and the next request starts a fresh one. A load the worker refuses (a missing
file, scene, camera or object) raises ValueError: no retry can fix it.

No Blender outlives its node: the process asks the kernel for SIGKILL when
the thread that started it dies (prctl PR_SET_PDEATHSIG), and close() asks
it to quit, then kills it. It runs in its own session so a terminal's Ctrl-C
reaches the node, which then closes it, and not Blender first.

This module must never import bpy: it runs in the farm's environment.
"""

from __future__ import annotations

import collections
import ctypes
import json
import os
import selectors
import signal
import subprocess
import threading
import time
import weakref
from pathlib import Path
from typing import Any

WORKER = Path(__file__).with_name("worker.py")
ENVIRONMENT_VARIABLE = "SHOTFARM_BLENDER_PYTHON"
ENVIRONMENT = ".venv-blender"
MAX_ANSWER_BYTES = 1 << 20
STDERR_LINES = 30
"""Blender's last lines of output kept to explain a crash."""
_PR_SET_PDEATHSIG = 1


class BlenderCrashed(RuntimeError):
    """The Blender process died, hung or broke its protocol; the next request starts a new one (transient)."""


class BlenderError(RuntimeError):
    """Blender is alive but could not do this (a render error, no such GPU here): worth a retry, maybe elsewhere."""


def blender_python() -> Path | None:
    """The Blender environment's Python: $SHOTFARM_BLENDER_PYTHON, else .venv-blender here or beside the checkout."""
    named = os.environ.get(ENVIRONMENT_VARIABLE)
    if named:
        return Path(named)
    checkout = Path(__file__).resolve().parents[4]
    for root in (Path.cwd(), checkout):
        python = root / ENVIRONMENT / "bin" / "python"
        if python.is_file():
            return python
    return None


def _die_with_parent(parent: int) -> None:
    """In the child before exec: be killed when the starting thread dies; give up if it already has."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _drain(proc: subprocess.Popen[bytes], lines: collections.deque[str]) -> None:
    # Read all the time: a full pipe would block Blender mid-render. A plain
    # function, not a method: the thread must not keep the BlenderProcess alive.
    assert proc.stderr is not None
    for line in proc.stderr:
        lines.append(line.decode("utf-8", "replace").rstrip())


def _environment() -> dict[str, str]:
    # The farm's own packages (numpy 2, shotfarm) must not leak into bpy's Python.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


class BlenderProcess:
    """A Blender worker process, started on the first request. Not thread-safe: one per render slot."""

    def __init__(self, python: Path, *, start_timeout_s: float = 120.0) -> None:
        self.python = python
        self.start_timeout_s = start_timeout_s
        self.generation = 0
        """How many processes have been started: a new one has nothing loaded."""
        self.version = ""
        """Blender's version, as the running process says."""
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._drainer: threading.Thread | None = None
        self._orphaned: weakref.finalize[Any, Any] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        """A process is started and not known to have died (it may have since the last request)."""
        return self._proc is not None

    def request(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send one request and wait at most timeout_s for its answer (the fields after "ok")."""
        if self._proc is None:
            self._start()
        answer = self._exchange(message, timeout_s)
        if answer.get("ok") is True:
            return answer
        error = str(answer.get("error", "no reason given"))
        if answer.get("kind") == "load":
            raise ValueError(error)
        raise BlenderError(f"Blender could not {message.get('op')}: {error}")

    def close(self) -> None:
        """Ask Blender to quit, kill it if it does not within seconds. Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.write(b'{"op": "quit"}\n')
                proc.stdin.flush()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._reap(proc)

    # -- the process --

    def _start(self) -> None:
        if not self.python.is_file():
            raise BlenderCrashed(f"no Blender environment at {self.python}; run `make blender`")
        parent = os.getpid()
        self._proc = subprocess.Popen(
            [str(self.python), "-u", str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_environment(),
            start_new_session=True,
            preexec_fn=lambda: _die_with_parent(parent),
        )
        # Dropped without close() (a node's engine replaced, an exception unwinding): Blender goes too.
        self._orphaned = weakref.finalize(self, _kill, self._proc)
        self.generation += 1
        self._buffer = b""
        self._stderr.clear()
        self._drainer = threading.Thread(target=_drain, args=(self._proc, self._stderr), name=f"blender-{self._proc.pid}-stderr", daemon=True)
        self._drainer.start()
        self.version = str(self._exchange({"op": "ping"}, self.start_timeout_s).get("blender", ""))

    def _reap(self, proc: subprocess.Popen[bytes]) -> None:
        if self._orphaned is not None:
            self._orphaned.detach()
        _kill(proc)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:  # a request still buffered for a process that is gone: nothing left to deliver
                    pass
        if self._drainer is not None:
            self._drainer.join(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()

    def _fail(self, why: str) -> BlenderCrashed:
        """Kill the process (whatever state it is in) and say why, with Blender's last words."""
        proc, self._proc = self._proc, None
        if proc is not None:
            self._reap(proc)
            rc = proc.returncode
            why += f" (killed by {signal.Signals(-rc).name})" if rc < 0 else f" (exit status {rc})"
        tail = " | ".join(list(self._stderr)[-5:])
        return BlenderCrashed(why + (f"; Blender's last output: {tail}" if tail else ""))

    # -- the protocol --

    def _exchange(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        op = message.get("op")
        if proc.poll() is not None:
            raise self._fail(f"Blender (pid {proc.pid}) died before the request to {op}")
        try:
            proc.stdin.write(json.dumps(message).encode() + b"\n")
            proc.stdin.flush()
        except OSError as e:
            raise self._fail(f"Blender (pid {proc.pid}) died before the request to {op} could be sent: {e}") from None
        line = self._read_line(proc, time.monotonic() + timeout_s, op)
        try:
            answer = json.loads(line)
        except ValueError:
            raise self._fail(f"Blender answered the request to {op} with something that is not JSON") from None
        if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
            raise self._fail(f"Blender's answer to the request to {op} is not a worker's answer")
        return answer

    def _read_line(self, proc: subprocess.Popen[bytes], deadline: float, op: Any) -> bytes:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise self._fail(f"Blender (pid {proc.pid}) did not answer the request to {op} in time; killed")
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise self._fail(f"Blender (pid {proc.pid}) exited during the request to {op}")
                self._buffer += chunk
                if len(self._buffer) > MAX_ANSWER_BYTES:
                    raise self._fail(f"Blender's answer to {op} is over {MAX_ANSWER_BYTES} bytes")
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line
