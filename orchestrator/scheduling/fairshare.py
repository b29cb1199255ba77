"""Fair share across shows: OpenCue's subscriptions, as fractions of a class.

A show's standing on a node class is where it queues for the class's next
free slot. Shows below their guaranteed share come first (most
under-served first); above it, spare capacity goes by priority and then to
the show furthest below its share; a show never grows past its burst
ceiling. Shows without a subscription have no guarantee and may burst to
the whole class; when no show has one, every show weighs the same, so
shows at one priority take turns. Pure arithmetic on slot counts.
"""

from __future__ import annotations

from orchestrator.scheduling.farm import FarmConfig

# Ranks unsubscribed shows after subscribed ones of the same priority while
# still ordering them among themselves by how much they hold.
_UNSUBSCRIBED = 1e9


def standing(farm: FarmConfig, show: str, gpu_class: str, usage: int, slots: int) -> tuple[int, float] | None:
    """(bucket, tier) for the show's next slot of the class, or None at its burst ceiling.

    bucket 0: below its guarantee; 1: spare capacity. Lower tier goes first.
    `usage` is the slots of the class the show holds, `slots` the class's total.
    """
    if at_ceiling(farm, show, gpu_class, usage, slots):
        return None
    return place(farm, show, gpu_class, usage, slots)


def place(farm: FarmConfig, show: str, gpu_class: str, usage: int, slots: int) -> tuple[int, float]:
    """(bucket, tier) whatever the ceiling: where the show stands in line for the class."""
    share, _, _ = farm.subscription(show, gpu_class)
    guaranteed = share * slots
    bucket = 0 if usage < guaranteed else 1
    if guaranteed > 0:
        return bucket, usage / guaranteed
    return bucket, (usage + _UNSUBSCRIBED) if farm.subscriptions else float(usage)


def at_ceiling(farm: FarmConfig, show: str, gpu_class: str, usage: int, slots: int) -> bool:
    """Whether one more slot would take the show past its burst ceiling on the class."""
    _, burst, _ = farm.subscription(show, gpu_class)
    return usage + 1 > burst * slots + 1e-9


def limited(farm: FarmConfig, show: str, gpu_class: str, usage: int, slots: int) -> bool:
    """At a ceiling below the whole class: the show waits for share, not for a free slot."""
    _, burst, _ = farm.subscription(show, gpu_class)
    return burst < 1.0 and at_ceiling(farm, show, gpu_class, usage, slots)
