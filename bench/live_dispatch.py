"""Live dispatch on local Ray: chunks per second through the coordinator, against plain actor calls.

Both sides drive the same no-op render nodes (they answer a ChunkOrder at
once, or after --work-ms) with the same number of calls in flight. The
coordinator side is the real loop: every ChunkStarted and ChunkRendered is
appended to a SQLite event log (WAL, synchronous=FULL) before it is acted
on, folded by evolve, and every decision comes from decide (the scheduling
policy). The baseline is a driver that keeps the nodes' slots full with
plain `render.remote` calls and nothing else. Prints both rates and the
ratio (goal >= 0.7).

    .venv/bin/python bench/live_dispatch.py [--chunks 2000] [--nodes 4] [--slots 2] [--work-ms 0 20]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import ray

from nodes.protocol import ChunkOrder, ChunkResult, StoredFrame
from orchestrator.config.settings import FarmSettings, PoolSettings
from orchestrator.coordinator.interpreter import CoordinatorActor
from orchestrator.core import events as ev
from orchestrator.simulation.workload import sequence_spec
from pipelines.chunking import plan_chunks
from pipelines.spec.setup import shot_setup


class NoopNode:
    """A render node that renders nothing: the cost of a call is all that is left."""

    def __init__(self, node_id: str, work: float):
        self.node_id, self.work = node_id, work

    def ping(self) -> str:
        return self.node_id

    def render(self, order: ChunkOrder) -> ChunkResult:
        if self.work:
            time.sleep(self.work)
        frames = tuple(StoredFrame(frame=f, key=order.key(f), digest="-") for f in range(order.first, order.last + 1))
        return ChunkResult(chunk_id=order.chunk_id, attempt=order.attempt, frames=frames, seconds=self.work, device="cpu")


class NoopMaster:
    """Mastering is not what this measures; the run is timed up to the last ChunkRendered."""

    def stitch_segment(self, order):
        raise RuntimeError("no master in this benchmark")

    def deliver(self, order):
        raise RuntimeError("no master in this benchmark")


class BenchCoordinator(CoordinatorActor):
    async def start_noop(self, nodes: int, slots: int, work: float) -> list[str]:
        ids = [f"cpu-{i}" for i in range(nodes)]
        self.nodes = {n: ray.remote(NoopNode).options(num_cpus=0).remote(n, work) for n in ids}
        ray.get([h.ping.remote() for h in self.nodes.values()])
        self.master = self.checker = ray.remote(NoopMaster).options(num_cpus=0).remote()
        infos = tuple(ev.NodeInfo(node_id=n, gpu_class="cpu", slots=slots) for n in ids)
        self.emit(ev.PoolStarted(at=time.time(), sequence_id=ev.FARM, nodes=infos))
        return ids


def spec(chunks: int):
    return sequence_spec("bench", "dispatch", [(chunks, 16)], resolution=(32, 18))


def through_coordinator(chunks: int, nodes: int, slots: int, work: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        settings = FarmSettings(chunk_frames=1, pool=PoolSettings(slots_per_node=slots))
        seq = spec(chunks).with_quality(samples=64)  # 64 spp: one frame per chunk at the default quality
        coordinator = (
            ray.remote(BenchCoordinator)
            .options(num_cpus=0, max_concurrency=64)
            .remote(os.path.join(tmp, "shotfarm.db"), tmp, settings)
        )
        ray.get(coordinator.start_noop.remote(nodes, slots, work))
        started = time.perf_counter()
        sid = ray.get(coordinator.submit.remote(seq.model_dump(mode="json")))
        while ray.get(coordinator.progress.remote(sid)).chunks_rendered < chunks:
            time.sleep(0.002)
        took = time.perf_counter() - started
        ray.get(coordinator.shutdown.remote())
        ray.kill(coordinator)
        return chunks / took


def plain_calls(chunks: int, nodes: int, slots: int, work: float) -> float:
    seq = spec(chunks).with_quality(samples=64)
    handles = [ray.remote(NoopNode).options(num_cpus=0).remote(f"cpu-{i}", work) for i in range(nodes)]
    ray.get([h.ping.remote() for h in handles])
    plans = plan_chunks(seq, 1)
    started = time.perf_counter()
    pending: dict = {}
    sent = 0

    def send(node: int) -> None:
        nonlocal sent
        c = plans[sent]
        order = ChunkOrder(
            sequence_id="bench:dispatch", chunk_id=c.chunk_id, attempt=1, setup=shot_setup(seq, c.shot),
            first=c.frames.first, last=c.frames.last, key_prefix="k", fps=seq.fps,
            start_timecode=seq.start_timecode, timeline_first=seq.timeline[0].frames.first,
        )  # fmt: skip
        pending[handles[node].render.remote(order)] = node
        sent += 1

    for node in range(nodes):
        for _ in range(slots):
            if sent < chunks:
                send(node)
    done = 0
    while done < chunks:
        ready, _ = ray.wait(list(pending), num_returns=1)
        node = pending.pop(ready[0])
        ray.get(ready[0])
        done += 1
        if sent < chunks:
            send(node)
    took = time.perf_counter() - started
    for h in handles:
        ray.kill(h)
    return chunks / took


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--chunks", type=int, default=2000)
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--slots", type=int, default=2)
    p.add_argument("--work-ms", type=float, nargs="+", default=[0.0, 20.0])
    args = p.parse_args()
    ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    print(f"{args.chunks:,} chunks, {args.nodes} no-op nodes x {args.slots} slots, {os.cpu_count()} CPUs")
    for work_ms in args.work_ms:
        work = work_ms / 1000.0
        plain = plain_calls(args.chunks, args.nodes, args.slots, work)
        ours = through_coordinator(args.chunks, args.nodes, args.slots, work)
        print(f"work {work_ms:5.1f} ms/chunk: plain actor calls {plain:8.1f} chunks/s   "
              f"coordinator {ours:8.1f} chunks/s   ratio {ours / plain:.2f}")  # fmt: skip
    ray.shutdown()


if __name__ == "__main__":
    main()
