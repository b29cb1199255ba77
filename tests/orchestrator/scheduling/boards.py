"""Small boards to state the policy's behaviour on: a few nodes, a few lanes."""

from __future__ import annotations

from orchestrator.scheduling.board import Board, Chunk, Lane
from orchestrator.scheduling.farm import FarmConfig, Need, NodeClass
from orchestrator.scheduling.runtime import RuntimeModel

ENGINE = "pathtracer"
SPU = 1.0
"""Seconds per cost unit on a speed-1.0 node in these boards: a chunk of 10 units takes 10 s."""


def farm(*classes: NodeClass, **extra) -> FarmConfig:
    return FarmConfig(classes=classes or (NodeClass(name="cpu", usd_per_hour=3600.0),), prior_seconds_per_unit=SPU, **extra)


def gpu(name: str, speed: float = 1.0, usd_per_hour: float = 3600.0, **extra) -> NodeClass:
    return NodeClass(name=name, speed=speed, usd_per_hour=usd_per_hour, **extra)


def board(config: FarmConfig, nodes: dict[str, int] | None = None, slots: int = 1, model: RuntimeModel | None = None):
    b = Board(config, model or RuntimeModel(prior=SPU), ENGINE)
    for name, count in (nodes or {config.classes[0].name: 1}).items():
        for i in range(count):
            b.add_node(f"{name}-{i}", name, slots)
    return b


def lane(
    b: Board,
    sid: str,
    units: list[float],
    show: str = "show",
    priority: int = 50,
    pixels: int = 100,
    budget: float | None = None,
    samples: int = 16,
) -> Lane:
    need = Need(ENGINE, pixels)
    new = b.add_lane(
        Lane(
            sequence_id=sid,
            show=show,
            priority=priority,
            serial=len(b.lanes),
            need=need,
            base=(ENGINE, pixels, 1),
            capable=b.farm.capable(need),
            budget=budget,
        )
    )
    for i, u in enumerate(units):
        chunk = Chunk(sid, f"c{i}", u, samples, i)
        b.add_chunk(new, chunk)
        b.queue(sid, chunk)
    return new


def picks(plan) -> list[tuple[str, str, str]]:
    return [(a.sequence_id, a.chunk_id, a.node_id) for a in plan.assignments]


def snapshot(b: Board) -> tuple:
    """Everything a plan may not change, to compare before and after."""
    lanes = {
        sid: (sorted(lane.queued), dict(lane.units_left), sorted(lane.waiting_retry), lane.held, lane.paused, dict(lane.failures))
        for sid, lane in b.lanes.items()
    }
    nodes = {n: list(node.held) for n, node in b.nodes.items()}
    attempts = {(c.sequence_id, c.chunk_id): c.attempt for lane in b.lanes.values() for c in lane.queued.values()}
    usage = {k: v for k, v in b.usage.items() if v}  # a count back at zero is no change
    return lanes, nodes, usage, attempts, {k: round(v, 9) for k, v in b.queued_units.items()}
