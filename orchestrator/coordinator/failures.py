"""What a failed node call means for the retry policy: classified once, here.

Ray wraps what a node raised; the farm wants the original sentence and
whether another attempt could succeed (a timeout, a lost node, a store
outage) or not (a scene the engine cannot load).
"""

from __future__ import annotations

import asyncio

from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from nodes.errors import PermanentError, StoreUnavailable, TransientError


def cause_of(e: BaseException) -> BaseException:
    """What an actor raised, unwrapped from Ray's task error; the one place the farm unwraps one."""
    cause = e.cause if isinstance(e, RayTaskError) else getattr(e, "cause", None)
    return cause if isinstance(cause, BaseException) else e


def sentence_of(e: BaseException) -> str:
    """The last line of what an actor raised: the sentence a person wants, without Ray's traceback."""
    inner = cause_of(e)
    text = str(inner).strip().splitlines()
    return text[-1] if text else type(inner).__name__


def blames_node(e: BaseException) -> bool:
    """Whether a failed render counts against its node (the blocklist): neither a replaced
    process nor a store that is down says anything about the node itself."""
    return not isinstance(e, RayActorError) and not isinstance(cause_of(e), StoreUnavailable)


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
