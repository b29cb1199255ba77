"""Failures carry their retry policy in their type.

A node raises TransientError for what another attempt may fix (a store
hiccup, a lost GPU) and PermanentError for what it will not (a scene the
engine cannot load). Anything else is classified once, by the coordinator,
as transient: a bug in an engine should cost a retry, not a sequence.
"""

from __future__ import annotations


class NodeError(Exception):
    pass


class TransientError(NodeError):
    def __init__(self, message: str, delay: float | None = None):
        super().__init__(message)
        self.delay = delay


class StoreUnavailable(TransientError):
    """The store did not answer (refused, timed out, 5xx): every node would fail alike, so it is not the node's fault."""


class PermanentError(NodeError):
    pass


class Draining(NodeError):
    """The node's machine is being stopped (nodes.busy): it refuses a new chunk before starting it.

    Neither a failure nor the node's fault: the farm records the node
    draining, sends it nothing more, and queues the chunk again as if it had
    never been sent.
    """
