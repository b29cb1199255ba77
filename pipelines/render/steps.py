"""The path tracer's steps (camera rays and the two of a bounce), op by op or compiled into fused C++.

Op by op, every elementwise op of a step is its own pass over the batch;
torch.compile (inductor) fuses each step into a few vectorised loops. The
compiled steps are built once per process and cached on disk by inductor;
a new scene structure (which shapes and lights, whether anything is glossy)
compiles once more, moving objects and new frames do not.

Without a C++ compiler and the Python headers the steps run op by op, and a
warning says so once: the pictures then differ from compiled ones by float
rounding only, never from run to run on the same machine.
"""

from __future__ import annotations

import functools
import importlib
import logging
import shutil
import sysconfig
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from pipelines.render import world

log = logging.getLogger("shotfarm.render.pathtracer")

# inductor's Python binding holds the GIL while a CPU kernel runs, so the
# tiles' threads would take turns. Its kernels touch no Python object: this
# binding parses the arguments with the GIL held, then lets go of it for the call.
HELD_CALL = "kernel({}); Py_RETURN_NONE;"
UNLOCKED_CALL = (
    "auto args_ = std::make_tuple({}); "
    "{{ struct Unlocked {{ PyThreadState* s = PyEval_SaveThread(); "
    "~Unlocked() {{ PyEval_RestoreThread(s); }} }} unlocked; "
    "std::apply(kernel, args_); }} Py_RETURN_NONE;"
)

# Distinct scene structures one process may compile for before torch would
# quietly fall back to op by op (its default is 8).
STRUCTURES = 64


@dataclass(frozen=True)
class Steps:
    start: Callable[[Tensor, Tensor, Tensor, int, int, int, int], Tensor]
    arrive: Callable[[world.World, Tensor], tuple[Tensor, Tensor, Tensor, Tensor]]
    scatter: Callable[[world.World, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor], Tensor]
    compiled: bool


EAGER = Steps(world.start, world.arrive, world.scatter, compiled=False)


def missing_toolchain() -> str | None:
    """What inductor's CPU backend lacks on this machine, or None."""
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler

        compiler = get_cpp_compiler()
    except Exception as err:  # torch raises its own types for "no compiler"
        return f"no C++ compiler ({err})"
    if shutil.which(compiler) is None:
        return f"no C++ compiler ({compiler} not found)"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        return "no Python headers (Python.h; Debian: python3-dev)"
    return None


@functools.cache
def compiled() -> Steps:
    """The compiled steps, built once per process (see `build`)."""
    return build(missing_toolchain())


def build(missing: str | None) -> Steps:
    """The compiled steps, or the op-by-op ones (with a warning) where something is `missing`."""
    if missing is not None:
        log.warning("path tracer: %s, so bounces run op by op (slower)", missing)
        return EAGER
    if not _unlocked_kernels():
        log.warning("path tracer: this torch's compiled kernels hold the GIL, so tiles take turns")
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, STRUCTURES)
    with warnings.catch_warnings():  # torch's own modules warn of their own deprecations
        warnings.simplefilter("ignore", DeprecationWarning)
        importlib.import_module("torch._inductor.compile_fx")
    # Batch sizes and the scene's numbers are arguments of the kernels, not constants.
    start = torch.compile(world.start, dynamic=True)
    arrive = torch.compile(world.arrive, dynamic=True)
    scatter = torch.compile(world.scatter, dynamic=True)
    return Steps(start, arrive, scatter, compiled=True)


def _unlocked_kernels() -> bool:
    """Make inductor's CPU kernels release the GIL; False where this torch binds them otherwise."""
    from torch._inductor.codecache import CppPythonBindingsCodeCache as bindings

    if bindings.call_entry_function == HELD_CALL:
        bindings.call_entry_function = UNLOCKED_CALL
    return bindings.call_entry_function == UNLOCKED_CALL
