"""The one retry wait of the whole farm: doubling from a first delay, capped.

The farm's own retries (a chunk queued again after a failure, a check or a
stitch called again while the store is down) and the S3 client's retries
inside one store call all wait by this rule; only their bounds differ (the
farm's from its Policy, the S3 client's from S3Settings, which also adds
jitter so that many nodes do not retry in step). Pure, so the orchestrator's
core and the nodes' adapters share it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    first: float
    """Seconds before the first retry."""
    most: float
    """No wait is longer than this."""

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt `attempt` (1 is the first try)."""
        return float(min(self.most, self.first * 2 ** (attempt - 1)))
