"""The simulator's "core" mode: the live farm's own evolve and decide, event by event.

What the coordinator does with commands, this does with simulated nodes:
a Dispatch records ChunkStarted and sends the chunk to its node, a
RetryLater and a Forgive become timed events, a Preempt records
ChunkPreempted and takes the chunk back from its node. Commands about
continuity and mastering are not simulated, and a Fail is counted but does
not stop the sequence (the fast mode does the same), so both modes meet
the same world. Slow by design (state is copied per event): for checking
the fast mode and for small farms.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from orchestrator.core import events as ev
from orchestrator.core.commands import Command, Dispatch, ExceedBudget, Forgive, Plan, Preempt, RetryLater
from orchestrator.core.decide import decide
from orchestrator.core.evolve import evolve
from orchestrator.core.state import FarmState
from orchestrator.scheduling.ids import AttemptKey

if TYPE_CHECKING:
    from orchestrator.simulation.workload import SimSequence


class SimulatedFarm(Protocol):
    """What the core mode needs of the simulator that drives it (simulate.Simulator is one)."""

    t: float
    world: Any
    farm: Any
    engine: str
    nodes: dict[str, Any]
    tally: Any

    def send(self, node_id: str, key: AttemptKey) -> None: ...

    def take_back(self, node_id: str, key: AttemptKey) -> bool: ...

    def at(self, t: float, kind: str, *args: Any) -> None: ...

    def finish(self, node_id: str, key: AttemptKey, ok: bool, seconds: float) -> float: ...

    def kick(self, node_id: str) -> None: ...


class CoreMode:
    def __init__(self, sim: SimulatedFarm):
        self.sim = sim
        policy = sim.world.policy
        self.state = FarmState(policy=replace(policy, farm=sim.farm, engine=sim.engine))
        self.decisions = 0
        self._specs: dict[str, SimSequence] = {}

    def emit(self, event: Any) -> None:
        self.state = evolve(self.state, event)
        self.decisions += 1
        for command in decide(self.state, event):
            self.execute(command)

    def execute(self, command: Command) -> None:
        t, sim = self.sim.t, self.sim
        match command:
            case Plan(sequence_id=sid):
                s = self._specs[sid]
                versions = {shot.name: 1 for shot in s.sequence.shots}
                self.emit(ev.ShotsPlanned(at=t, sequence_id=sid, versions=versions, chunks=s.chunks))
            case Dispatch():
                self.emit(command.started(t, sim.nodes[command.node_id].name))
                sim.send(command.node_id, command.key)
            case Preempt():
                if sim.take_back(command.node_id, command.key):
                    self.emit(command.preempted(t))
            case ExceedBudget():
                sim.tally.paused(command.sequence_id)
                self.emit(command.exceeded(t))
            case RetryLater():
                sim.at(t + command.delay, "retry", command.sequence_id, command.chunk_id)
            case Forgive():
                sim.at(t + command.delay, "forgive", command.sequence_id, command.node_id)
            case _:
                pass  # checks, stitches, deliverables, Fail: not simulated

    # -- what happens in the simulated world ----------------------------------------

    def start(self) -> None:
        nodes = tuple(
            ev.NodeInfo(node_id=n, gpu_class=c.name, slots=c.slots) for n, c in self.sim.nodes.items()
        )
        self.emit(ev.PoolStarted(at=self.sim.t, sequence_id=ev.FARM, nodes=nodes))

    def submit(self, s: SimSequence) -> None:
        self._specs[s.sequence_id] = s
        spec = s.sequence.model_dump(mode="json")
        self.emit(ev.SequenceSubmitted(at=self.sim.t, sequence_id=s.sequence_id, spec=spec, spec_digest="sim"))

    def done(self, node_id: str, key: AttemptKey, ok: bool, seconds: float) -> None:
        cost = self.sim.finish(node_id, key, ok, seconds)
        sid, cid, attempt = key
        base = dict(at=self.sim.t, sequence_id=sid, chunk_id=cid, attempt=attempt, node_id=node_id)
        if ok:
            chunk = self.state.sequences[sid].chunks[cid]
            frames = tuple(ev.FrameRecord(frame=f, key=f"sim/{cid}/{f}", digest="-") for f in chunk.plan.frames)
            gpu_class = self.sim.nodes[node_id].name
            self.emit(ev.ChunkRendered(gpu_class=gpu_class, frames=frames, node_seconds=seconds, cost_usd=cost, **base))
        else:
            record = self.state.node_failures.get((sid, node_id))
            self.emit(ev.ChunkFailed(error="simulated failure", retryable=True, **base))
            if self.state.sequences[sid].chunks[cid].status.value == "failed":
                self.sim.tally.gave_up(key)
            after = self.state.node_failures.get((sid, node_id))
            if after is not None and after != record and after[0] == self.sim.farm.block_after:
                self.sim.tally.blocked()
        self.sim.kick(node_id)

    def retry(self, sid: str, cid: str) -> None:
        self.emit(ev.ChunkQueued(at=self.sim.t, sequence_id=sid, chunk_id=cid, reason="retry after failure"))

    def forgive(self, sid: str, node_id: str) -> None:
        self.emit(ev.NodeForgiven(at=self.sim.t, sequence_id=sid, node_id=node_id))
