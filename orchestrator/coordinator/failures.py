"""What a failed node call means for the retry policy: classified once, here.

Ray wraps what a node raised; the farm wants the original sentence and
whether another attempt could succeed (a timeout, a lost node, a store
outage) or not (a scene the engine cannot load).
"""

from __future__ import annotations

import asyncio

from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from nodes.errors import PermanentError, TransientError


def cause_of(e: BaseException) -> BaseException:
    """What the node raised, unwrapped from Ray's task error."""
    return e.cause if isinstance(e, RayTaskError) else e


def classify(e: BaseException) -> tuple[bool, str]:
    """(retryable, message) for anything a node call can raise."""
    if isinstance(e, asyncio.TimeoutError | GetTimeoutError):
        return True, "timed out"
    if isinstance(e, RayActorError):
        return True, f"node lost: {type(e).__name__}"
    cause = cause_of(e)
    if isinstance(cause, PermanentError):
        return False, str(cause)
    if isinstance(cause, TransientError):
        return True, str(cause)
    return True, f"{type(cause).__name__}: {cause}"
