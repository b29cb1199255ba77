"""The discrete-event simulator: the farm's policy against simulated nodes.

Two modes run the same policy. "core" is the live farm exactly: every fact
is an event folded by evolve, every decision comes from decide (which
builds a board from state for each decision, O(chunks) each). "fast" keeps
one Board up to date operation by operation and calls the planner on it,
which is how 100,000 chunks on 1,000 nodes simulate in seconds; the tests
check that both modes make the same decisions. Nodes render the chunks
they hold one at a time, in the order they were sent; durations and
failures are drawn from a seed per (chunk, attempt), so both modes and
both policies meet the same world. Simulated time only: no clock.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.core.snapshot import chunks_for, lane_for
from orchestrator.core.state import Policy
from orchestrator.scheduling import policy as shotfarm
from orchestrator.scheduling.blocklist import expired
from orchestrator.scheduling.board import Board
from orchestrator.scheduling.farm import FarmConfig
from orchestrator.scheduling.ids import AttemptKey
from orchestrator.scheduling.policy import DispatchPlan
from orchestrator.scheduling.runtime import RuntimeModel
from orchestrator.simulation.report import Report, Tally
from orchestrator.simulation.simcore import CoreMode
from orchestrator.simulation.workload import SimSequence

Planner = Callable[[Board, float], DispatchPlan]


@dataclass(frozen=True)
class World:
    """What the simulated nodes do, besides render at their class's speed."""

    failure_rate: float = 0.0
    """Chance that any attempt fails (transiently)."""
    bad_nodes: float = 0.0
    """Fraction of nodes that fail most of what they are given."""
    bad_node_failure: float = 0.8
    seed: int = 0
    policy: Policy = field(default_factory=lambda: Policy(max_attempts=5))
    """Retry knobs (max_attempts, backoff) as the live farm reads them."""


class Simulator:
    def __init__(
        self,
        farm: FarmConfig,
        sequences: list[SimSequence],
        world: World = World(),
        engine: str = "pathtracer",
        trace: bool = False,
    ):
        self.farm, self.world, self.engine = farm, world, engine
        self.sequences = sorted(sequences, key=lambda s: (s.submit_at, s.sequence_id))
        self.work = {(s.sequence_id, c.chunk_id): w for s in self.sequences for c, w in zip(s.chunks, s.work)}
        self.nodes = {f"{c.name}-{i:04d}": c for c in farm.classes for i in range(c.count)}
        rng = random.Random(world.seed)
        self.bad = {n for n in sorted(self.nodes) if rng.random() < world.bad_nodes}
        self.line: dict[str, list[AttemptKey]] = {n: [] for n in self.nodes}
        self.busy: dict[str, bool] = dict.fromkeys(self.nodes, False)
        self.events: list[tuple] = []
        self._n = 0
        self.t = 0.0
        self.tally = Tally(farm, self.sequences, engine, trace)

    # -- the clock of the simulated world --------------------------------------------

    def at(self, t: float, kind: str, *payload: object) -> None:
        self._n += 1
        heapq.heappush(self.events, (t, self._n, kind, payload))

    def run(self, mode: str = "fast", planner: Planner = shotfarm.plan, name: str = "shotfarm") -> Report:
        farm_loop = CoreMode(self) if mode == "core" else FastMode(self, planner)
        farm_loop.start()
        for s in self.sequences:
            self.at(s.submit_at, "submit", s)
        while self.events:
            self.t, _, kind, payload = heapq.heappop(self.events)
            getattr(farm_loop, kind)(*payload)
        return self.tally.report(name, farm_loop.decisions)

    # -- the nodes -------------------------------------------------------------------

    def send(self, node_id: str, key: AttemptKey) -> None:
        self.line[node_id].append(key)
        self.tally.dispatched(self.t, key, node_id)
        self.kick(node_id)

    def take_back(self, node_id: str, key: AttemptKey) -> bool:
        """Remove a chunk waiting at a node; False if it is already rendering there."""
        line = self.line[node_id]
        if key not in line[1:] and not (line and line[0] == key and not self.busy[node_id]):
            return False
        line.remove(key)
        self.tally.preempted(self.t, key, node_id)
        return True

    def kick(self, node_id: str) -> None:
        if self.busy[node_id] or not self.line[node_id]:
            return
        key = self.line[node_id][0]
        gpu_class = self.nodes[node_id]
        draw = random.Random(f"{self.world.seed}:{key[0]}:{key[1]}:{key[2]}:{node_id}")
        seconds = self.work[key[:2]] / gpu_class.speed
        p = self.world.bad_node_failure if node_id in self.bad else self.world.failure_rate
        ok = draw.random() >= p
        if not ok:
            seconds *= draw.uniform(0.05, 1.0)  # it fails somewhere along the way
        self.busy[node_id] = True
        self.tally.started(self.t, key, node_id)
        self.at(self.t + seconds, "done", node_id, key, ok, seconds)

    def finish(self, node_id: str, key: AttemptKey, ok: bool, seconds: float) -> float:
        """The node is done with its head chunk; returns what it cost."""
        assert self.line[node_id][0] == key
        self.line[node_id].pop(0)
        self.busy[node_id] = False
        cost = seconds * self.nodes[node_id].usd_per_hour / 3600.0
        self.tally.finished(self.t, key, node_id, ok, seconds, cost)
        return cost


class FastMode:
    """The farm as one Board kept up to date, decisions from `planner`."""

    def __init__(self, sim: Simulator, planner: Planner):
        self.sim, self.planner = sim, planner
        self.board = Board(sim.farm, RuntimeModel(prior=sim.farm.prior_seconds_per_unit), sim.engine)
        self.policy = sim.world.policy
        self.decisions = 0
        self._serial = 0

    def start(self) -> None:
        for node_id, gpu_class in self.sim.nodes.items():
            self.board.add_node(node_id, gpu_class.name, gpu_class.slots)

    def decide(self) -> None:
        self.decisions += 1
        p = self.planner(self.board, self.sim.t)
        for o in p.overruns:
            self.board.lanes[o.sequence_id].paused = True
            self.sim.tally.paused(o.sequence_id)
        for a in p.assignments:
            self.board.assign(a.sequence_id, a.chunk_id, a.node_id)
            self.sim.send(a.node_id, AttemptKey.of(a))
        for x in p.preemptions:
            if self.sim.take_back(x.node_id, AttemptKey.of(x)):
                self.board.preempt(x.sequence_id, x.chunk_id)
                self.decide()

    def submit(self, s: SimSequence) -> None:
        lane = self.board.add_lane(lane_for(s.sequence, s.sequence_id, self._serial, self.sim.farm, self.sim.engine))
        self._serial += 1
        for chunk in chunks_for(s.sequence, s.sequence_id, s.chunks):
            self.board.add_chunk(lane, chunk)
            self.board.queue(s.sequence_id, chunk)
        self.decide()

    def done(self, node_id: str, key: AttemptKey, ok: bool, seconds: float) -> None:
        cost = self.sim.finish(node_id, key, ok, seconds)
        sid, cid, attempt = key
        board, farm = self.board, self.sim.farm
        lane = board.lanes[sid]
        gpu_class = self.sim.nodes[node_id].name
        if ok:
            chunk = board.rendered(sid, cid, cost)
            key = lane.key(chunk.samples)
            board.model = board.model.observe(key, gpu_class, farm.speed(gpu_class), seconds, chunk.units)
        else:
            retry = attempt < self.policy.max_attempts
            board.failed(sid, cid, retry)
            board.fail_on(sid, node_id, self.sim.t)
            if retry:
                delay = min(self.policy.backoff_max, self.policy.backoff_base * 2 ** (attempt - 1))
                self.sim.at(self.sim.t + delay, "retry", sid, cid)
            else:
                self.sim.tally.gave_up(key)
            if lane.failures[node_id][0] == farm.block_after:  # this failure blocks the node
                self.sim.tally.blocked()
                self.sim.at(self.sim.t + farm.forgive_after, "forgive", sid, node_id)
        self.decide()
        self.sim.kick(node_id)

    def retry(self, sid: str, cid: str) -> None:
        self.board.retry(sid, cid)
        self.decide()

    def forgive(self, sid: str, node_id: str) -> None:
        lane = self.board.lanes[sid]
        record = lane.failures.get(node_id)
        farm = self.sim.farm
        if record is not None:
            if expired(record, self.sim.t, farm.forgive_after):
                del lane.failures[node_id]
            elif record[0] >= farm.block_after:  # failed again since: the block stands
                self.sim.at(record[1] + farm.forgive_after, "forgive", sid, node_id)
        self.decide()
