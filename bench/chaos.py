"""Chaos report: real `shotfarm render` runs with faults injected, and what they cost.

Run by hand:  .venv/bin/python bench/chaos.py --repeat 3   (S3 outage: scripts/s3-servers.sh start first)

Scenarios, each on the same small sequence, measured against one clean run:
- orchestrator: SIGKILL the CLI at random log positions, restarting each time;
- render-node: SIGKILL RenderNode actor processes while they render;
- s3-outage: render into s3:// through a TCP proxy that goes down for a while;
- corrupt-frame: flip bytes of a recorded frame before its shot is mastered.
Columns: faults injected, runs completed, frames lost (master frames that are
missing or differ from the clean run's, plus accepted frames missing or
altered in the store; must be 0), chunks re-rendered after being recorded
(started again with no ChunkInvalidated in between; must be 0), retries and
invalidations from the log, and extra node-seconds over the clean run (renders
as recorded, plus abandoned attempts charged from dispatch to their end, an
upper bound). tests/e2e/test_chaos.py runs each scenario once, with
assertions; this module is shared so both run the very same code.

It must never touch processes it did not start: kills go to the CLI it
launched and to that process's own descendants only.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nodes.storage import open_store
from nodes.storage.base import Store, get_verified
from orchestrator.core import events as ev
from orchestrator.core.evolve import evolve
from orchestrator.core.state import FarmState
from orchestrator.core.status import ChunkStatus

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--chunk-frames", "2", "--cpus", "2"]
RUN_TIMEOUT = 240.0


def chaos_spec() -> dict:
    """Three shots, 28 rendered frames in 14 chunks, cameras far enough apart that every cut is ok."""

    def shot(name: str, first: int, last: int, handles: int, position: list[float]) -> dict:
        keys = [{"frame": 0, "position": position, "look_at": [0, 1, 0], "fov": 35}]
        return {"name": name, "scene": "set", "frames": {"first": first, "last": last}, "handles": handles,
                "camera": {"keys": keys}}  # fmt: skip

    return {
        "show": "demo", "sequence": "chaos", "resolution": [64, 36], "samples": 192, "bounces": 2,
        "scenes": {"set": {
            "materials": {"grey": {"type": "diffuse", "albedo": [0.5, 0.5, 0.5]},
                          "lamp": {"type": "emissive", "color": [1, 0.8, 0.6], "intensity": 6}},
            "objects": [{"type": "plane", "name": "ground", "material": "grey"},
                        {"type": "sphere", "name": "orb", "center": [0, 1, 0], "radius": 1, "material": "lamp"}],
            "lights": [{"type": "sky", "intensity": 0.5}], "subject": "orb"}},
        "shots": [shot("sh010", 1001, 1010, 1, [0, 1.2, 6]), shot("sh020", 1011, 1018, 0, [5.1962, 1.2, 3]),
                  shot("sh030", 1019, 1024, 1, [5.1962, 1.2, -3])],
    }  # fmt: skip


def write_spec(folder: Path) -> Path:
    path = folder / "chaos.yaml"
    path.write_text(yaml.safe_dump(chaos_spec()))
    return path


# -- running and killing the CLI ------------------------------------------------


def start(spec: Path, out: Path, store: str | None = None, env: dict[str, str] | None = None) -> subprocess.Popen:
    extra = ["--store", store] if store else []
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "render", str(spec), "--out", str(out), *ARGS, *extra],
        cwd=ROOT,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen, timeout: float = RUN_TIMEOUT) -> tuple[int, str]:
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate(timeout=30)
        return -1, output + f"\n(chaos: killed after {timeout:.0f}s)"
    return proc.returncode, output


def kill_when(proc: subprocess.Popen, ready: Callable[[], bool], timeout: float = RUN_TIMEOUT) -> bool:
    """SIGKILL the CLI once `ready()` holds; False if it ended (or the wait ran out) first."""
    end = time.monotonic() + timeout
    while proc.poll() is None and not ready():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    if proc.poll() is not None:
        return False
    proc.kill()
    proc.communicate(timeout=30)
    return True


def descendants(pid: int) -> dict[int, str]:
    """pid -> process title of every process below `pid` (Ray titles actors `ray::Class.method`)."""
    ps = subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[tuple[int, str]]] = {}
    for line in ps.splitlines():
        p, pp, *args = line.split(None, 2)
        children.setdefault(int(pp), []).append((int(p), args[0] if args else ""))
    found, todo = {}, [pid]
    while todo:
        for child, title in children.get(todo.pop(), []):
            found[child] = title
            todo.append(child)
    return found


def busy_render_nodes(pid: int) -> list[int]:
    return [p for p, title in descendants(pid).items() if title.startswith("ray::RenderNode.render")]


# -- reading what a run left -------------------------------------------------------


def log_events(out: Path) -> list[ev.Event]:
    """Every event, read-only (a live coordinator may be appending)."""
    try:
        db = sqlite3.connect(f"file:{out / 'shotfarm.db'}?mode=ro", uri=True, timeout=5)
        rows = db.execute("SELECT body FROM events ORDER BY seq").fetchall()
        db.close()
    except sqlite3.OperationalError:
        return []  # not created yet
    return [ev.event_from_json(body) for (body,) in rows]


def count(out: Path, *types: str) -> int:
    try:
        db = sqlite3.connect(f"file:{out / 'shotfarm.db'}?mode=ro", uri=True, timeout=5)
        marks = ",".join("?" * len(types))
        query = f"SELECT count(*) FROM events{f' WHERE type IN ({marks})' if types else ''}"
        n = db.execute(query, types).fetchone()[0]
        db.close()
        return int(n)
    except sqlite3.OperationalError:
        return 0


def replay(events: list[ev.Event]) -> FarmState:
    state = FarmState()
    for e in events:
        state = evolve(state, e)
    return state


def master_bytes(events: list[ev.Event], store: Store) -> dict[str, bytes]:
    """Everything the last MasterStitched names (frames, contact sheet, deliverables), read back."""
    stitched = [e for e in events if isinstance(e, ev.MasterStitched)]
    if not stitched:
        return {}
    m = stitched[-1]
    return {r.key: store.get(r.key) for r in (*m.frames, m.contact_sheet, *m.deliverables.values())}


@dataclass
class Baseline:
    master: dict[str, bytes]
    rows: int
    node_seconds: float


@dataclass
class Outcome:
    scenario: str
    faults: int = 0
    completed: bool = False
    frames_lost: int = 0
    rerendered: int = 0
    retries: int = 0
    invalidated: int = 0
    node_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    events: list[ev.Event] = field(default_factory=list, repr=False)


def rerendered_after_recorded(events: list[ev.Event]) -> int:
    """ChunkStarted for a chunk whose accepted render stands (not invalidated, shot not requeued)."""
    state, recorded, n = FarmState(), set(), 0
    for e in events:
        state = evolve(state, e)
        match e:
            case ev.ChunkRendered():
                chunk = state.sequences[e.sequence_id].chunks[e.chunk_id]
                if chunk.status is ChunkStatus.RENDERED and chunk.attempt == e.attempt:
                    recorded.add((e.sequence_id, e.chunk_id))
            case ev.ChunkInvalidated():
                recorded.discard((e.sequence_id, e.chunk_id))
            case ev.ShotRequeued():
                recorded -= {(e.sequence_id, c.chunk_id) for c in e.chunks}
            case ev.ChunkStarted() if (e.sequence_id, e.chunk_id) in recorded:
                n += 1
    return n


def node_seconds(events: list[ev.Event], kills: list[float]) -> float:
    """Recorded render time, plus abandoned attempts from dispatch to their failure or to the kill that cut them."""
    started: dict[tuple[str, str, int], float] = {}
    total = 0.0
    for e in events:
        match e:
            case ev.ChunkStarted():
                started[e.sequence_id, e.chunk_id, e.attempt] = e.at
            case ev.ChunkRendered():
                started.pop((e.sequence_id, e.chunk_id, e.attempt), None)
                total += e.node_seconds
            case ev.ChunkFailed() if (e.sequence_id, e.chunk_id, e.attempt) in started:
                total += e.at - started.pop((e.sequence_id, e.chunk_id, e.attempt))
    for at in started.values():
        cut = min((k for k in kills if k >= at), default=at)
        total += cut - at
    return total


def assess(outcome: Outcome, out: Path, store: Store, clean: Baseline, kills: list[float] = ()) -> Outcome:
    events = log_events(out)
    state = replay(events)
    outcome.events = events
    outcome.completed = any(s.status.value == "completed" for s in state.sequences.values())
    master = master_bytes(events, store) if outcome.completed else {}
    outcome.frames_lost = sum(master.get(k) != v for k, v in clean.master.items())
    for seq in state.sequences.values():
        for chunk in seq.chunks_in(ChunkStatus.RENDERED):
            for f in chunk.frames:
                try:
                    get_verified(store, f.key, f.digest)
                except Exception:  # missing, altered or unreadable: lost either way
                    outcome.frames_lost += 1
    outcome.rerendered = rerendered_after_recorded(events)
    outcome.retries = sum(isinstance(e, ev.ChunkFailed) for e in events)
    outcome.invalidated = sum(isinstance(e, ev.ChunkInvalidated) for e in events)
    outcome.node_seconds = node_seconds(events, list(kills))
    return outcome


def clean_run(spec: Path, work: Path) -> Baseline:
    out = work / "clean"
    rc, output = finish(start(spec, out))
    if rc != 0:
        raise RuntimeError(f"the clean run failed:\n{output}")
    events = log_events(out)
    return Baseline(master_bytes(events, open_store(str(out))), len(events), node_seconds(events, []))


def wait_for(ready: Callable[[], bool], proc: subprocess.Popen, timeout: float = RUN_TIMEOUT) -> bool:
    """Poll until `ready()` holds; False if the CLI ended (or the wait ran out) first."""
    end = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def _tail(output: str, lines: int = 15) -> str:
    return "\n".join(output.strip().splitlines()[-lines:])


# -- an S3 server that goes away ------------------------------------------------------


class OutageProxy:
    """A TCP proxy on 127.0.0.1 in front of an S3 server; `down()` is that server going away.

    Down, the port is closed (new connections are refused) and every open
    connection is cut; `up()` listens on the same port again. The server
    behind it keeps its data, which is the point: a restarted moto would not.
    """

    def __init__(self, target: str):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.up()

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)  # type: ignore[arg-type]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass  # the other side went away, or down() cut it
        finally:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._open |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self._open -= {writer, up_writer}

    async def _up(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    def up(self) -> None:
        self._call(self._up())

    def down(self) -> None:
        self._call(self._down())

    def close(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


@dataclass(frozen=True)
class S3Tier:
    endpoint: str  # host:port
    access_key: str
    secret_key: str


def moto_tier(env_file: Path | None = None) -> S3Tier | None:
    """The moto server scripts/s3-servers.sh started, if it did."""
    path = env_file or Path(os.environ.get("S3_ENV_FILE") or ROOT / ".s3-servers.env")
    if not path.is_file():
        return None
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and line[0] != "#")
    try:
        endpoint = values["S3_MOTO_ENDPOINT"].strip().split("://", 1)[-1]
        return S3Tier(endpoint, values["S3_MOTO_ACCESS_KEY"].strip(), values["S3_MOTO_SECRET_KEY"].strip())
    except KeyError:
        return None


def s3_store(tier: S3Tier, bucket: str, prefix: str) -> Store:
    from nodes.storage import S3Settings
    from nodes.storage.s3 import S3Store

    settings = S3Settings(endpoint=tier.endpoint, bucket=bucket, prefix=prefix, access_key=tier.access_key,
                          secret_key=tier.secret_key, secure=False, create_bucket=True)  # fmt: skip
    return S3Store(settings)


# -- the scenarios ----------------------------------------------------------------------


def orchestrator_kills(spec: Path, work: Path, clean: Baseline, rng: random.Random, kills: int = 5) -> Outcome:
    """SIGKILL the CLI at `kills` random log positions of one run, restarting it each time."""
    out, outcome, moments = work / "orchestrator", Outcome("orchestrator"), []
    points = sorted(rng.sample(range(2, max(kills + 2, int(clean.rows * 0.8))), kills))
    for point in points:
        proc = start(spec, out)
        # At least one event of this run first (its PoolStarted), so each kill hits a running farm.
        target, linger = max(point, count(out) + 1), rng.uniform(0.0, 0.3)
        if not wait_for(lambda: count(out) >= target, proc):
            outcome.notes.append(f"run ended before kill {outcome.faults + 1}: {_tail(finish(proc)[1], 3)}")
            break
        time.sleep(linger)  # between two events, e.g. mid-render
        if proc.poll() is not None:
            outcome.notes.append(f"run ended before kill {outcome.faults + 1}")
            break
        proc.kill()
        proc.communicate(timeout=30)
        moments.append(time.time())
        outcome.faults += 1
    rc, output = finish(start(spec, out))
    if rc != 0:
        outcome.notes.append(_tail(output))
    return assess(outcome, out, open_store(str(out)), clean, moments)


def render_node_kills(spec: Path, work: Path, clean: Baseline, rng: random.Random, kills: int = 2) -> Outcome:
    """SIGKILL RenderNode actor processes of a run while they render; Ray restarts them."""
    out, outcome = work / "render-node", Outcome("render-node")
    proc = start(spec, out)
    for _ in range(kills):
        after, failures, busy = count(out, "ChunkRendered") + rng.randint(0, 2), count(out, "ChunkFailed"), []

        def rendering() -> bool:
            busy[:] = busy_render_nodes(proc.pid) if count(out, "ChunkRendered") >= after else []
            return bool(busy)

        if not wait_for(rendering, proc):
            outcome.notes.append(f"no render node was rendering for kill {outcome.faults + 1}")
            break
        os.kill(rng.choice(busy), signal.SIGKILL)
        outcome.faults += 1
        # The loss is on record before the next kill, so each kill is its own fault.
        wait_for(lambda: count(out, "ChunkFailed") > failures, proc, timeout=60)
    rc, output = finish(proc)
    if rc != 0:
        outcome.notes.append(_tail(output))
    return assess(outcome, out, open_store(str(out)), clean)


def s3_outage(
    spec: Path, work: Path, clean: Baseline, rng: random.Random, tier: S3Tier, seconds: float = 10.0
) -> Outcome:
    """Render into s3:// through a proxy that goes down for `seconds` mid-run, then comes back."""
    out, outcome = work / "s3-outage", Outcome("s3-outage")
    bucket, prefix = "shotfarm-chaos", f"run-{uuid.uuid4().hex[:12]}"
    store = s3_store(tier, bucket, prefix)  # creates the bucket; reads go straight to the server
    proxy = OutageProxy(tier.endpoint)
    env = {
        "SHOTFARM_S3_ENDPOINT": f"http://127.0.0.1:{proxy.port}",
        "SHOTFARM_S3_ACCESS_KEY": tier.access_key,
        "SHOTFARM_S3_SECRET_KEY": tier.secret_key,
    }
    try:
        proc = start(spec, out, f"s3://{bucket}/{prefix}", env)
        after = rng.randint(1, 6)
        if wait_for(lambda: count(out, "ChunkRendered") >= after, proc):
            proxy.down()
            outcome.faults += 1
            time.sleep(seconds)
            proxy.up()
        else:
            outcome.notes.append("the run ended before the outage")
        rc, output = finish(proc)
    finally:
        proxy.close()
    if rc != 0:
        outcome.notes.append(_tail(output))
    return assess(outcome, out, store, clean)


def corrupt_frame(spec: Path, work: Path, clean: Baseline, rng: random.Random) -> Outcome:
    """Flip bytes of a recorded frame in the local store before its shot is mastered."""
    out, outcome, victim = work / "corrupt-frame", Outcome("corrupt-frame"), []
    proc = start(spec, out)

    def pick() -> bool:
        for seq in replay(log_events(out)).sequences.values():
            for chunk in seq.chunks_in(ChunkStatus.RENDERED):
                shot = seq.spec.shot(chunk.plan.shot)
                pending = [c for c in seq.chunks.values() if c.plan.shot == shot.name and c.status is not ChunkStatus.RENDERED]
                # A frame the master uses (inside the cut range) that no cut check reads (not a boundary),
                # of a shot with chunks still to come, so it cannot have been mastered yet.
                inner = [f for f in chunk.frames if shot.frames.first < f.frame < shot.frames.last]
                if len(pending) >= 2 and inner:
                    victim[:] = [chunk.plan.chunk_id, rng.choice(inner)]
                    return True
        return False

    if wait_for(pick, proc):
        path = out / victim[1].key
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x5A
        path.write_bytes(bytes(data))
        outcome.faults += 1
        outcome.notes.append(f"corrupted {victim[1].key} of chunk {victim[0]}")
    rc, output = finish(proc)
    if rc != 0:
        outcome.notes.append(_tail(output))
    return assess(outcome, out, open_store(str(out)), clean)


# -- the report ----------------------------------------------------------------------------

COLUMNS = ("scenario", "runs", "faults injected", "runs completed", "frames lost", "re-rendered after recorded",
           "retries", "invalidated", "extra node-s")  # fmt: skip


def table(clean: Baseline, outcomes: dict[str, list[Outcome]]) -> str:
    rows = [COLUMNS]
    for name, runs in outcomes.items():
        extra = sum(o.node_seconds - clean.node_seconds for o in runs) / max(len(runs), 1)
        rows.append((
            name, str(len(runs)), str(sum(o.faults for o in runs)), f"{sum(o.completed for o in runs)}/{len(runs)}",
            str(sum(o.frames_lost for o in runs)), str(sum(o.rerendered for o in runs)),
            str(sum(o.retries for o in runs)), str(sum(o.invalidated for o in runs)), f"{extra:+.1f} per run",
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=3, help="runs per scenario")
    p.add_argument("--kills", type=int, default=5, help="orchestrator kills per run")
    p.add_argument("--outage", type=float, default=10.0, help="seconds the S3 server is down")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--only", nargs="*", choices=("orchestrator", "render-node", "s3-outage", "corrupt-frame"))
    args = p.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    tier = moto_tier()
    with tempfile.TemporaryDirectory(prefix="shotfarm-chaos-") as tmp:
        work = Path(tmp)
        spec = write_spec(work)
        started = time.monotonic()
        clean = clean_run(spec, work)
        print(f"seed {seed}; clean run: {len(clean.master)} master objects, {clean.rows} events, "
              f"{clean.node_seconds:.1f} node-s", flush=True)  # fmt: skip
        scenarios: dict[str, Callable[[Path, Path, Baseline, random.Random], Outcome]] = {
            "orchestrator": lambda *a: orchestrator_kills(*a, kills=args.kills),
            "render-node": render_node_kills,
            "s3-outage": lambda *a: s3_outage(*a, tier=tier, seconds=args.outage),  # type: ignore[arg-type]
            "corrupt-frame": corrupt_frame,
        }
        outcomes: dict[str, list[Outcome]] = {}
        for name, run in scenarios.items():
            if args.only and name not in args.only:
                continue
            if name == "s3-outage" and tier is None:
                print("s3-outage: skipped (no moto server; run scripts/s3-servers.sh start)", flush=True)
                continue
            for i in range(args.repeat):
                outcome = run(spec, work / f"{name}-{i}", clean, rng)
                outcomes.setdefault(name, []).append(outcome)
                print(f"{name} #{i + 1}: completed={outcome.completed} faults={outcome.faults} "
                      f"lost={outcome.frames_lost} rerendered={outcome.rerendered} {'; '.join(outcome.notes)}",
                      flush=True)  # fmt: skip
        print()
        print(table(clean, outcomes))
        print(f"\n{time.monotonic() - started:.0f}s wall")
    bad = any(o.frames_lost or o.rerendered or not o.completed for runs in outcomes.values() for o in runs)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
