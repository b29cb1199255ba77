"""Live dispatch on local Ray: chunks per second through the coordinator, against plain actor calls.

Both sides drive the same no-op render nodes (they answer a ChunkOrder at
once, or after --work-ms) with the same number of calls in flight. The
coordinator side is the real loop: every ChunkStarted and ChunkRendered is
appended to a SQLite event log (WAL, synchronous=FULL; events that arrive
together share one commit) before it is acted on, folded by evolve, and
every decision comes from decide (the scheduling policy, on the board the
coordinator keeps up to date), and chunks it sends one node together travel
in one call, as they do to a farm's render nodes. The baseline is a driver that
keeps the nodes' slots full with plain `render.remote` calls, one per chunk,
and nothing else.

For each queue size (1,000, 10,000, 100,000, up to --chunks) it prints both
rates, their ratio (goal >= 0.7) and the rate against the smallest size's
(goal: within 20% at 100,000), and the coordinator's memory per queued
chunk (resident memory a fresh coordinator grew by when the sequence was
planned with every chunk queued and no node to send one to, which also
counts what the allocator kept of the planning's transient objects; goal
under 2 KiB).
Progress is polled every --poll seconds, as a client watching the farm would.
A queue smaller than --least chunks (default 10,000) is run in several
paired rounds (plain calls, then the coordinator) until that many were timed
on each side: rates and ratio are the rounds' medians, the ratios' range
beside them.

Both sides are warmed up the same way before they are timed: --warm-up
chunks (default 500) go through the same coordinator and no-op nodes (a
sequence of its own, after which the pool is recorded empty until the timed
run records the nodes again) or through the same driver and node handles,
untimed. Without it, the first calls of a
fresh coordinator process (imports, Ray's first submissions from the actor,
first pickling of each class) fall inside the timed run, about a second that
would weigh on the 1,000-chunk rate alone. Each timed run starts when the
pool is recorded (or the first call is sent) and ends at the last chunk's
answer; the coordinator's CPU time is taken over exactly that span.

    .venv/bin/python bench/live_dispatch.py [--chunks 100000] [--nodes 4] [--slots 2] [--work-ms 0] [--poll 0.5] [--least 10000]
        [--log postgresql://user@host:port/db]

With --log, the coordinator also runs on a PostgreSQL event log (a fresh
database per run, made beside the one named and dropped after it) and its
rate is printed beside the SQLite log's, in the same run.

On a machine others load, rates vary from run to run; the coordinator's CPU
time per chunk (its process, every thread) varies much less, and is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import tempfile
import time
from collections.abc import Iterator
from statistics import median

import ray

from nodes.protocol import ChunkOrder, ChunkResult, StoredFrame
from orchestrator.config.settings import FarmSettings, PoolSettings
from orchestrator.coordinator.actor import CoordinatorActor
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

    def close(self) -> None:
        pass  # nothing warm to let go of

    def render(self, order: ChunkOrder) -> ChunkResult:
        if self.work:
            time.sleep(self.work)
        frames = tuple(StoredFrame(frame=f, key=order.key(f), digest="-") for f in range(order.first, order.last + 1))
        return ChunkResult(chunk_id=order.chunk_id, attempt=order.attempt, frames=frames, seconds=self.work, device="cpu")

    def render_many(self, orders: list[ChunkOrder], within: float) -> list[ChunkResult]:
        """As a render node answers a call of several chunks (nodes.actors.render.RenderNode.render_many)."""
        started, results = time.perf_counter(), [self.render(orders[0])]
        for order in orders[1:]:
            if time.perf_counter() - started >= within:
                break
            results.append(self.render(order))
        return results


class NoopMaster:
    """Checks and mastering are not what this measures: none is answered within the run (so
    nothing settles, is stitched or fails meanwhile), and the run is timed up to the last ChunkRendered."""

    async def check(self, order):
        await asyncio.sleep(3600)

    async def stitch_segment(self, order):
        await asyncio.sleep(3600)

    async def deliver(self, order):
        await asyncio.sleep(3600)


class BenchCoordinator(CoordinatorActor):
    def __init__(self, *args):
        super().__init__(*args)
        self.last_rendered = self.cpu_at_start = self.cpu_at_last = 0.0
        self.rendered = self.expected = 0
        self._observers.append(self._note)

    def _note(self, event, state) -> None:
        if isinstance(event, ev.ChunkRendered):
            self.last_rendered, self.rendered = event.at, self.rendered + 1
            if self.rendered == self.expected:  # a process's CPU time sums its threads': not read per event
                self.cpu_at_last = time.process_time()

    async def profile(self, path: str | None) -> None:
        """Start profiling this coordinator (None: stop, and write the stats to where it was asked)."""
        import cProfile

        if path is not None:
            self._profile, self._profile_path = cProfile.Profile(), path
            self._profile.enable()
        elif getattr(self, "_profile", None) is not None:
            self._profile.disable()
            self._profile.dump_stats(self._profile_path)

    async def finished(self) -> tuple[float, float]:
        """When the last chunk was recorded rendered (the poll that saw it came up to --poll later), and the
        CPU seconds this process used, all its threads (Ray's own included), from the pool's start to then."""
        return self.last_rendered, self.cpu_at_last - self.cpu_at_start

    async def start_noop(self, nodes: int, slots: int, work: float, chunks: int) -> float:
        """Start the no-op nodes (or take back the warm-up's) and record the pool, for a run of ``chunks``;
        returns when it was recorded (the clock starts)."""
        ids = [f"cpu-{i}" for i in range(nodes)]
        self.nodes = self.nodes or {n: ray.remote(NoopNode).options(num_cpus=0).remote(n, work) for n in ids}
        await asyncio.gather(*(h.ping.remote() for h in self.nodes.values()))
        if self.master is None:
            self.master = self.checker = ray.remote(NoopMaster).options(num_cpus=0, max_concurrency=1000).remote()
        infos = tuple(ev.NodeInfo(node_id=n, gpu_class="cpu", slots=slots) for n in ids)
        self.rendered, self.expected = 0, chunks
        self.cpu_at_start, started = time.process_time(), time.time()
        self.emit(ev.PoolStarted(at=started, sequence_id=ev.FARM, nodes=infos))
        return started

    async def warm_up(self, nodes: int, slots: int, work: float, chunks: int) -> None:
        """Render a short sequence of its own on the no-op nodes, then record a pool of none (the timed run records them again)."""
        await self.start_noop(nodes, slots, work, chunks)
        sid = await self.submit(spec(chunks, "warm-up").with_quality(samples=64).model_dump(mode="json"))
        while self.state.sequences[sid].frames_rendered < chunks:
            await asyncio.sleep(0.01)
        self.emit(ev.PoolStarted(at=time.time(), sequence_id=ev.FARM, nodes=()))

    async def resident(self) -> int:
        """Resident bytes of this process, after a collection."""
        gc.collect()
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


SHOT_FRAMES = 10_000
"""Frames per shot: a long sequence is several shots, as a real one is (a shot is bounded)."""


def spec(chunks: int, name: str = "dispatch"):
    shots = [(SHOT_FRAMES, 16)] * (chunks // SHOT_FRAMES) + ([(chunks % SHOT_FRAMES, 16)] if chunks % SHOT_FRAMES else [])
    return sequence_spec("bench", name, shots, resolution=(32, 18))


@contextlib.contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """A new, empty database on the server `url` names, dropped afterwards: each run starts from an empty log."""
    import psycopg

    name = f"shotfarm_bench_{os.getpid()}_{time.monotonic_ns()}"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def through_coordinator(
    chunks: int, nodes: int, slots: int, work: float, poll: float, warm: int, profile: str | None = None, log: str | None = None
) -> tuple[float, float, float]:
    """(chunks per second, resident bytes per queued chunk, CPU seconds per chunk); the log is SQLite in a temp folder, or `log`."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = FarmSettings(chunk_frames=1, pool=PoolSettings(slots_per_node=slots))
        seq = spec(chunks).with_quality(samples=64)  # 64 spp: one frame per chunk at the default quality
        per_chunk = queued_memory(seq, chunks, os.path.join(tmp, "memory"), settings)
        coordinator = (
            ray.remote(BenchCoordinator)
            .options(num_cpus=0, max_concurrency=64)
            .remote(log or os.path.join(tmp, "shotfarm.db"), tmp, settings)
        )
        if warm:
            ray.get(coordinator.warm_up.remote(nodes, slots, work, warm))
        # Submitted while the pool has no node: every chunk is planned and queued, none can be sent yet.
        sid = ray.get(coordinator.submit.remote(seq.model_dump(mode="json")))
        if profile:
            ray.get(coordinator.profile.remote(f"{profile}.{chunks}"))
        started = ray.get(coordinator.start_noop.remote(nodes, slots, work, chunks))  # its clock stamps the events too
        while ray.get(coordinator.progress.remote(sid)).chunks_rendered < chunks:
            time.sleep(poll)
        last, cpu = ray.get(coordinator.finished.remote())
        took = last - started
        ray.get(coordinator.profile.remote(None))
        ray.get(coordinator.shutdown.remote())
        ray.kill(coordinator)
        return chunks / took, per_chunk, cpu / chunks


def queued_memory(seq, chunks: int, folder: str, settings: FarmSettings) -> float:
    """Resident bytes per queued chunk in a fresh coordinator (no warm-up), the sequence submitted with no pool."""
    os.makedirs(folder)
    coordinator = ray.remote(BenchCoordinator).options(num_cpus=0).remote(os.path.join(folder, "shotfarm.db"), folder, settings)
    before = ray.get(coordinator.resident.remote())
    ray.get(coordinator.submit.remote(seq.model_dump(mode="json")))
    grown = ray.get(coordinator.resident.remote()) - before
    ray.get(coordinator.shutdown.remote())
    ray.kill(coordinator)
    return grown / chunks


def plain_calls(chunks: int, nodes: int, slots: int, work: float, warm: int) -> float:
    handles = [ray.remote(NoopNode).options(num_cpus=0).remote(f"cpu-{i}", work) for i in range(nodes)]
    ray.get([h.ping.remote() for h in handles])
    if warm:
        _keep_full(handles, slots, spec(warm, "warm-up").with_quality(samples=64), warm)
    took = _keep_full(handles, slots, spec(chunks).with_quality(samples=64), chunks)
    for h in handles:
        ray.kill(h)
    return chunks / took


def _keep_full(handles: list, slots: int, seq, chunks: int) -> float:
    """Seconds to render the sequence's chunks with every node's slots kept full by plain calls, one chunk each."""
    nodes = len(handles)
    plans = plan_chunks(seq, 1)
    started = time.perf_counter()
    pending: dict = {}
    sent = 0

    def send(node: int) -> None:
        nonlocal sent
        c = plans[sent]
        order = ChunkOrder(
            sequence_id=f"bench:{seq.sequence}", chunk_id=c.chunk_id, attempt=1, setup=shot_setup(seq, c.shot),
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
    return time.perf_counter() - started


def sizes(most: int) -> list[int]:
    return sorted({n for n in (1_000, 10_000, 100_000) if n < most} | {most})


def rounds(chunks: int, least: int) -> int:
    """Rounds run at a queue size: enough for ``least`` chunks timed on each side, at least one. A
    1,000-chunk run lasts about a second, in which one other process waking moves its rate by a
    tenth; the median of ten paired rounds does not move with it."""
    return max(1, -(-least // chunks))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--chunks", type=int, default=10_000, help="the largest queue; 1,000 and 10,000 below it are run too")
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--slots", type=int, default=2)
    p.add_argument("--work-ms", type=float, nargs="+", default=[0.0])
    p.add_argument("--poll", type=float, default=0.5, help="seconds between progress polls")
    p.add_argument("--warm-up", type=int, default=500, help="chunks each side renders untimed first (0: none)")
    p.add_argument("--least", type=int, default=10_000,
                   help="chunks timed on each side at every queue size: a smaller queue runs in several rounds")  # fmt: skip
    p.add_argument("--profile", help="cProfile the coordinator; stats go to PROFILE.<chunks> (pstats format)")
    p.add_argument("--log", help="also run on this PostgreSQL server (postgresql://...): its rate beside SQLite's")
    args = p.parse_args()
    if args.log and not args.log.startswith(("postgresql://", "postgres://")):
        p.error("--log must be a postgresql:// URL (SQLite always runs)")
    if not 1 <= args.chunks <= 250_000 or not 0 < args.poll <= 10 or not 1 <= args.least <= 1_000_000:
        p.error("--chunks must be 1..250000, --poll 0..10 s and --least 1..1000000")
    # A Ray of its own: never a cluster someone else started on this machine.
    ray.init(address="local", num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    print(f"{args.nodes} no-op nodes x {args.slots} slots, {os.cpu_count()} CPUs, progress polled every {args.poll} s, "
          f"{args.warm_up} chunks of warm-up each side, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    for work_ms in args.work_ms:
        work, first = work_ms / 1000.0, None
        for n in sizes(args.chunks):
            # Paired rounds, plain calls then the coordinator, each its median; the ratio is the median round's.
            runs = [
                (plain_calls(n, args.nodes, args.slots, work, args.warm_up),
                 *through_coordinator(n, args.nodes, args.slots, work, args.poll, args.warm_up, args.profile))
                for _ in range(rounds(n, args.least))
            ]  # fmt: skip
            plain, ours = median(r[0] for r in runs), median(r[1] for r in runs)
            ratios = sorted(r[1] / r[0] for r in runs)
            per_chunk, cpu = median(r[2] for r in runs), median(r[3] for r in runs)
            first = first or ours
            spread = f" (median of {len(runs)} rounds, {ratios[0]:.2f}-{ratios[-1]:.2f})" if len(runs) > 1 else ""
            print(f"work {work_ms:4.1f} ms  {n:>7,} chunks: plain actor calls {plain:7.1f}/s  coordinator {ours:7.1f}/s  "
                  f"ratio {median(ratios):.2f}{spread}  vs {sizes(args.chunks)[0]:,} chunks {ours / first:.2f}  "
                  f"memory {per_chunk / 1024:.2f} KiB per queued chunk  coordinator CPU {cpu * 1e3:.2f} ms per chunk  "
                  f"load average {os.getloadavg()[0]:.1f}",
                  flush=True)  # fmt: skip
            if args.log:
                with fresh_database(args.log) as url:
                    pg, _, _ = through_coordinator(n, args.nodes, args.slots, work, args.poll, args.warm_up, log=url)
                print(f"work {work_ms:4.1f} ms  {n:>7,} chunks: coordinator on PostgreSQL {pg:7.1f}/s  "
                      f"vs SQLite {pg / ours:.2f}  vs plain actor calls {pg / plain:.2f}", flush=True)  # fmt: skip
    ray.shutdown()


if __name__ == "__main__":
    main()
