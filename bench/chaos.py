"""Chaos report: real `shotfarm render` runs with faults injected, and what they cost.

Run by hand:  .venv/bin/python bench/chaos.py --repeat 3   (the S3 outage needs scripts/s3-servers.sh start)

Scenarios, each on the same small sequence, measured against one clean run:
- orchestrator: SIGKILL the CLI at random log positions, restarting it each time;
- render-node: SIGKILL RenderNode actor processes while they render (Ray restarts them);
- s3-outage: render into s3:// through a TCP proxy in front of moto that goes down, then up;
- corrupt-frame: flip a byte of a recorded frame before its shot is mastered.
Columns: faults injected; runs completed; frames lost (master objects missing or
different from the clean run's, plus accepted frames missing or altered in the
store; must be 0); chunks re-rendered after being recorded (started again with
no ChunkInvalidated in between; must be 0); retries and invalidations from the
log; extra node-seconds over the clean run (per node, the time it held a chunk:
from dispatch to the result, failure or kill, overlaps counted once).
tests/e2e/test_chaos.py runs each scenario once with assertions; both use this
module so they run the very same code.

It must never touch a process it did not start: kills go to the CLI it launched
and to that process's own descendants, found by walking the process tree.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nodes.storage import S3Settings, open_store
from nodes.storage.base import Store, get_verified
from orchestrator.core import events as ev
from orchestrator.core.evolve import replay
from orchestrator.core.status import ChunkStatus
from orchestrator.eventlog.base import LogUnreadable
from orchestrator.eventlog.location import open_records

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--chunk-frames", "2", "--cpus", "2"]
RUN_TIMEOUT = 300.0
STALL = 150.0
"""Seconds without a new event after which a live run counts as stalled: start-up takes ~15 s,
and a restart may first wait up to 60 s for the killed coordinator to let go of the log."""
BUCKET = "shotfarm-chaos"


def chaos_spec() -> dict:
    """Three shots, 28 rendered frames in 14 chunks, cameras 60 degrees apart so every cut is ok.

    The last shot takes eight times the samples: it is still rendering, seconds long, when the
    first shot is final and stitched, so every fault has a running farm to land in.
    """

    def shot(name: str, first: int, last: int, handles: int, position: list[float], **extra) -> dict:
        keys = [{"frame": 0, "position": position, "look_at": [0, 1, 0], "fov": 35}]
        return {"name": name, "scene": "set", "frames": {"first": first, "last": last}, "handles": handles,
                "camera": {"keys": keys}, **extra}  # fmt: skip

    return {
        "show": "demo", "sequence": "chaos", "resolution": [64, 36], "samples": 192, "bounces": 2,
        "scenes": {"set": {
            "materials": {"grey": {"type": "diffuse", "albedo": [0.5, 0.5, 0.5]},
                          "lamp": {"type": "emissive", "color": [1, 0.8, 0.6], "intensity": 6}},
            "objects": [{"type": "plane", "name": "ground", "material": "grey"},
                        {"type": "sphere", "name": "orb", "center": [0, 1, 0], "radius": 1, "material": "lamp"}],
            "lights": [{"type": "sky", "intensity": 0.5}], "subject": "orb"}},
        "shots": [shot("sh010", 1001, 1010, 1, [0, 1.2, 6]), shot("sh020", 1011, 1018, 0, [5.1962, 1.2, 3]),
                  shot("sh030", 1019, 1024, 1, [5.1962, 1.2, -3], samples=1536)],
    }  # fmt: skip


def write_spec(folder: Path) -> Path:
    path = folder / "chaos.yaml"
    path.write_text(yaml.safe_dump(chaos_spec()))
    return path


# -- running, watching and killing the CLI ---------------------------------------------


SERVER_LOGS: dict[Path, str] = {}
"""Output folder -> the PostgreSQL URL of its run's event log, for runs whose log is not the folder's shotfarm.db."""


def start(spec: Path, out: Path, store: str | None = None, env: dict[str, str] | None = None) -> subprocess.Popen:
    extra = ["--store", store] if store else []
    if out in SERVER_LOGS:
        extra += ["--log", SERVER_LOGS[out]]
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator.interfaces.cli", "render", str(spec), "--out", str(out), *ARGS, *extra],
        cwd=ROOT,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen, out: Path, timeout: float = RUN_TIMEOUT) -> tuple[int, str]:
    """Wait for the CLI to end; a run whose log stops growing for STALL seconds is killed as stalled."""
    end, last, quiet_since = time.monotonic() + timeout, -1, time.monotonic()
    while proc.poll() is None:
        now, rows = time.monotonic(), count(out)
        if rows != last:
            last, quiet_since = rows, now
        if now > end or now - quiet_since > STALL:
            proc.kill()
            output, _ = proc.communicate(timeout=30)
            why = f"no new event for {STALL:.0f}s" if now <= end else f"not done after {timeout:.0f}s"
            return -1, f"{output}\n(chaos: killed, {why}; the log ends with {_last_events(out)})"
        time.sleep(0.2)
    output, _ = proc.communicate(timeout=30)
    return proc.returncode, output


def _last_events(out: Path, n: int = 3) -> str:
    return ", ".join(f"{e.type} {getattr(e, 'chunk_id', '')}".strip() for e in log_events(out)[-n:])


def wait_for(ready: Callable[[], bool], proc: subprocess.Popen, out: Path, timeout: float = RUN_TIMEOUT) -> bool:
    """Poll until `ready()` holds; False if the CLI ended, stalled (see finish) or the wait ran out first."""
    end, last, quiet_since = time.monotonic() + timeout, -1, time.monotonic()
    while not ready():
        now, rows = time.monotonic(), count(out)
        if rows != last:
            last, quiet_since = rows, now
        if proc.poll() is not None or now > end or now - quiet_since > STALL:
            return False
        time.sleep(0.05)
    return proc.poll() is None


def descendants(pid: int) -> dict[int, str]:
    """pid -> process title of every process below `pid` (Ray titles actors `ray::Class.method`)."""
    ps = subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[tuple[int, str]]] = {}
    for line in ps.splitlines():
        child, parent, *title = line.split(None, 2)
        children.setdefault(int(parent), []).append((int(child), title[0] if title else ""))
    found, todo = {}, [pid]
    while todo:
        for child, title in children.get(todo.pop(), []):
            found[child] = title
            todo.append(child)
    return found


def _server_rows(url: str) -> list[tuple[str, object]]:
    """(type, body) of every record of a PostgreSQL log, read-only; none before the farm has created it."""
    try:
        records = open_records(url)
    except LogUnreadable:
        return []
    try:
        return [(str(type_), body) for _, _, type_, body, _ in records.rows()]
    finally:
        records.close()


def log_events(out: Path) -> list[ev.Event]:
    """Every event, read-only (a live coordinator may be appending)."""
    if out in SERVER_LOGS:
        return [ev.event_from_json(body) for _, body in _server_rows(SERVER_LOGS[out])]
    try:
        db = sqlite3.connect(f"file:{out / 'shotfarm.db'}?mode=ro", uri=True, timeout=5)
        rows = db.execute("SELECT body FROM events ORDER BY seq").fetchall()
        db.close()
    except sqlite3.OperationalError:
        return []  # not created yet
    return [ev.event_from_json(body) for (body,) in rows]


def count(out: Path, *types: str) -> int:
    """Events in the log so far, of these types (all when none are named)."""
    if out in SERVER_LOGS:
        return sum(not types or type_ in types for type_, _ in _server_rows(SERVER_LOGS[out]))
    where = f" WHERE type IN ({','.join('?' * len(types))})" if types else ""
    try:
        db = sqlite3.connect(f"file:{out / 'shotfarm.db'}?mode=ro", uri=True, timeout=5)
        n = db.execute(f"SELECT count(*) FROM events{where}", types).fetchone()[0]
        db.close()
        return int(n)
    except sqlite3.OperationalError:
        return 0


# -- what a run left behind -----------------------------------------------------------


def master_bytes(events: list[ev.Event], store: Store) -> dict[str, bytes]:
    """Everything the last MasterStitched names (frames, contact sheet, deliverables), read back."""
    m = next((e for e in reversed(events) if isinstance(e, ev.MasterStitched)), None)
    return {r.key: store.get(r.key) for r in (*m.frames, m.contact_sheet, *m.deliverables.values())} if m else {}


def cut_of(conform: bytes) -> list[tuple]:
    """What a conform.otio says of the cut, leaving out where each plate's frames lie.

    The conform points each clip at the attempt folders the log accepted, and a
    chunk that was retried after a fault lands in another attempt's folder (the
    fencing that keeps a late attempt from overwriting accepted frames). So a
    faulted run's conform splits a shot into one clip per folder; the cut it
    describes (shots, frames, grades, gaps, dissolves, in order) must still be
    the clean run's exactly.
    """
    items: list[tuple] = []
    for track in json.loads(conform)["tracks"]["children"]:
        for item in track["children"]:
            kind = item["OTIO_SCHEMA"].split(".")[0]
            if kind != "Clip":
                items.append((kind, json.dumps(item, sort_keys=True)))
                continue
            r = item["source_range"]
            start, length = r["start_time"]["value"], r["duration"]["value"]
            cdl = json.dumps(item.get("metadata", {}).get("cdl"), sort_keys=True)
            last = items[-1] if items else None
            if last and last[0] == "Clip" and last[1] == item["name"] and last[2] + last[3] == start and last[4] == cdl:
                items[-1] = ("Clip", item["name"], last[2], last[3] + length, cdl)
            else:
                items.append(("Clip", item["name"], start, length, cdl))
    return items


def master_differences(master: dict[str, bytes], clean: dict[str, bytes]) -> list[str]:
    """Each key whose bytes are not the clean run's, and how: missing, extra, or sizes and digests.

    The conform is compared by the cut it describes (`cut_of`), every other file byte for byte.
    """
    out = []
    for key in sorted(set(master) | set(clean)):
        got, want = master.get(key), clean.get(key)
        if got == want:
            continue
        if got is not None and want is not None and key.rsplit("/", 1)[-1] == "conform.otio" and cut_of(got) == cut_of(want):
            continue
        if got is None or want is None:
            out.append(f"{key}: {'missing' if got is None else 'not in the clean master'}")
        else:
            digests = hashlib.sha256(got).hexdigest()[:12], hashlib.sha256(want).hexdigest()[:12]
            out.append(f"{key}: {len(got)} bytes {digests[0]}, clean {len(want)} bytes {digests[1]}")
    return out


def rerendered_after_recorded(events: list[ev.Event]) -> int:
    """ChunkStarted for a chunk whose accepted render stands (not invalidated, shot not requeued)."""
    state, recorded, n = replay([]), set(), 0
    for e in events:
        state = replay([e], state)
        match e:
            case ev.ChunkRendered() if state.sequences[e.sequence_id].chunks[e.chunk_id].attempt == e.attempt:
                if state.sequences[e.sequence_id].chunks[e.chunk_id].status is ChunkStatus.RENDERED:
                    recorded.add((e.sequence_id, e.chunk_id))
            case ev.ChunkInvalidated():
                recorded.discard((e.sequence_id, e.chunk_id))
            case ev.ShotRequeued():
                recorded -= {(e.sequence_id, c.chunk_id) for c in e.chunks}
            case ev.ChunkStarted() if (e.sequence_id, e.chunk_id) in recorded:
                n += 1
    return n


def node_seconds(events: list[ev.Event], kills: list[float]) -> float:
    """Seconds render nodes spent holding chunks: per node, the union of its attempts' spans,
    each from dispatch to its result (or failure, or the orchestrator kill that cut it)."""
    held: dict[tuple[str, str, int], tuple[str, float]] = {}
    spans: dict[str, list[tuple[float, float]]] = {}
    for e in events:
        if e.type == "ChunkStarted":
            held[e.sequence_id, e.chunk_id, e.attempt] = (e.node_id, e.at)
        elif e.type in ("ChunkRendered", "ChunkFailed", "ChunkPreempted"):
            node, at = held.pop((e.sequence_id, e.chunk_id, e.attempt), (None, e.at))
            spans.setdefault(node or e.node_id, []).append((at, e.at))
    for node, at in held.values():
        spans.setdefault(node, []).append((at, min((k for k in kills if k >= at), default=at)))
    total = 0.0
    for intervals in spans.values():
        end = float("-inf")
        for a, b in sorted(intervals):
            total += max(0.0, b - max(a, end))
            end = max(end, b)
    return total


@dataclass
class Baseline:
    master: dict[str, bytes]
    rows: int
    node_seconds: float


@dataclass
class Outcome:
    scenario: str
    out: Path
    store_url: str
    faults: int = 0
    completed: bool = False
    frames_lost: int = 0
    rerendered: int = 0
    retries: int = 0
    invalidated: int = 0
    node_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    differs: list[str] = field(default_factory=list)
    """Master files not byte-identical to the clean run's, each with how they differ."""
    detail: dict[str, str] = field(default_factory=dict)
    events: list[ev.Event] = field(default_factory=list, repr=False)
    direct: Store | None = field(default=None, repr=False)
    """How this process reads the run's store, when `store_url` alone does not say (S3 keys)."""

    @property
    def store(self) -> Store:
        return self.direct or open_store(self.store_url)

    def ended(self, rc: int, output: str, clean: Baseline, kills: list[float] | None = None) -> Outcome:
        """Measure what the run left in its log and store."""
        if rc != 0:
            self.notes.append("\n".join(output.strip().splitlines()[-12:]))
        self.events = log_events(self.out)
        state = replay(self.events)
        self.completed = any(s.status.value == "completed" for s in state.sequences.values())
        store = self.store
        master = master_bytes(self.events, store) if self.completed else {}
        self.differs = master_differences(master, clean.master)
        differing = {d.split(": ", 1)[0] for d in self.differs}
        self.frames_lost = sum(key in differing for key in clean.master)  # the conform counts by its cut, as above
        for chunk in (c for s in state.sequences.values() for c in s.chunks_in(ChunkStatus.RENDERED)):
            for f in chunk.frames:
                try:
                    get_verified(store, f.key, f.digest)
                except Exception:  # missing, altered or unreadable: lost either way
                    self.frames_lost += 1
        self.rerendered = rerendered_after_recorded(self.events)
        self.retries = sum(isinstance(e, ev.ChunkFailed) for e in self.events)
        self.invalidated = sum(isinstance(e, ev.ChunkInvalidated) for e in self.events)
        self.node_seconds = node_seconds(self.events, kills or [])
        return self


def clean_run(spec: Path, work: Path) -> Baseline:
    out = work / "clean"
    rc, output = finish(start(spec, out), out)
    if rc != 0:
        raise RuntimeError(f"the clean run failed:\n{output}")
    events = log_events(out)
    return Baseline(master_bytes(events, open_store(str(out))), len(events), node_seconds(events, []))


# -- an S3 server that goes away ---------------------------------------------------------


class OutageProxy:
    """A TCP proxy on 127.0.0.1 in front of an S3 server; `down()` is that server going away.

    Down, its port is closed (connections are refused) and every open
    connection is cut; `up()` listens on the same port again. The server
    behind it keeps its objects, which a restarted moto would not.
    """

    def __init__(self, target: str):
        host, port = target.rsplit(":", 1)
        self.target, self.port = (host, int(port)), 0
        self._server: asyncio.AbstractServer | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.up()

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
        asyncio.run_coroutine_threadsafe(self._up(), self._loop).result(timeout=10)

    def down(self) -> None:
        asyncio.run_coroutine_threadsafe(self._down(), self._loop).result(timeout=10)

    def close(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


@dataclass(frozen=True)
class S3Tier:
    endpoint: str  # host:port
    access_key: str
    secret_key: str

    def store(self, prefix: str) -> Store:
        from nodes.storage.s3 import S3Store

        return S3Store(S3Settings(endpoint=self.endpoint, bucket=BUCKET, prefix=prefix, access_key=self.access_key,
                                  secret_key=self.secret_key, secure=False, create_bucket=True))  # fmt: skip


def moto_tier() -> S3Tier | None:
    """The moto server scripts/s3-servers.sh started, from the env file it wrote."""
    path = Path(os.environ.get("S3_ENV_FILE") or ROOT / ".s3-servers.env")
    lines = path.read_text().splitlines() if path.is_file() else []
    values = dict(line.strip().split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    if "S3_MOTO_ENDPOINT" not in values:
        return None
    endpoint = values["S3_MOTO_ENDPOINT"].split("://", 1)[-1]
    return S3Tier(endpoint, values["S3_MOTO_ACCESS_KEY"], values["S3_MOTO_SECRET_KEY"])


# -- the scenarios -------------------------------------------------------------------------


def orchestrator_kills(
    spec: Path, work: Path, clean: Baseline, rng: random.Random, kills: int = 5, log: str | None = None
) -> Outcome:
    """SIGKILL the CLI at `kills` random log positions of one run, restarting it each time.

    `log`: a postgresql:// URL (an empty database) to keep the run's event log on, instead of its folder's SQLite file.
    """
    outcome, moments = Outcome("orchestrator", work / "orchestrator", str(work / "orchestrator")), []
    out = outcome.out
    if log is not None:
        SERVER_LOGS[out] = log
    # Positions in the first 80% of a clean run's log: restarts add events, so the run is never done by then.
    for point in sorted(rng.sample(range(2, max(kills + 2, int(clean.rows * 0.8))), kills)):
        proc, pools = start(spec, out), count(out, "PoolStarted")
        # This run's pool first, so each kill hits a running farm (events may still come from the
        # coordinator killed before: it lives on, holding the log's lock, until Ray reaps it).
        if wait_for(lambda: count(out, "PoolStarted") > pools and count(out) >= point, proc, out):
            time.sleep(rng.uniform(0.0, 0.3))  # between two events, e.g. mid-render
        if proc.poll() is not None:
            outcome.notes.append(f"the run ended before kill {outcome.faults + 1}")
            finish(proc, out)
            break
        proc.kill()
        proc.communicate(timeout=30)
        moments.append(time.time())
        outcome.faults += 1
    return outcome.ended(*finish(start(spec, out), out), clean, moments)


def render_node_kills(spec: Path, work: Path, clean: Baseline, rng: random.Random, kills: int = 2) -> Outcome:
    """SIGKILL a RenderNode actor process while it renders, `kills` times in one run."""
    outcome = Outcome("render-node", work / "render-node", str(work / "render-node"))
    out, proc, killed = outcome.out, start(spec, outcome.out), set()
    for _ in range(kills):
        after, busy = count(out, "ChunkRendered") + rng.randint(0, 2), []

        def rendering() -> bool:
            titles = descendants(proc.pid) if count(out, "ChunkRendered") >= after else {}
            busy[:] = [p for p, t in titles.items() if t.startswith("ray::RenderNode.render") and p not in killed]
            return bool(busy)

        if not wait_for(rendering, proc, out):
            outcome.notes.append(f"no render node was rendering for kill {outcome.faults + 1}")
            break
        killed.add(victim := rng.choice(busy))
        os.kill(victim, signal.SIGKILL)
        outcome.faults += 1
    return outcome.ended(*finish(proc, out), clean)


def s3_outage(
    spec: Path, work: Path, clean: Baseline, rng: random.Random, tier: S3Tier, seconds: float = 10.0,
    when: str = "random",
) -> Outcome:  # fmt: skip
    """Render into s3:// through a proxy that is down for `seconds` mid-run.

    `when`: "renders" (after 1 to 4 chunks are recorded), "stitching" (as the
    first shot is final, so its segment is being stitched), or "random" (either).
    """
    prefix = f"run-{uuid.uuid4().hex[:12]}"
    # This process reads straight from the server; the farm goes through the proxy.
    outcome = Outcome("s3-outage", work / "s3-outage", f"s3://{BUCKET}/{prefix}", direct=tier.store(prefix))
    out, proxy = outcome.out, OutageProxy(tier.endpoint)
    when = rng.choice(["renders", "stitching"]) if when == "random" else when
    after = rng.randint(1, 4)

    def moment() -> bool:
        if when == "renders":
            return count(out, "ChunkRendered") >= after
        seqs = replay(log_events(out)).sequences.values() if count(out, "ChunkRendered") else ()
        return any(s.shot_final(shot.name) for s in seqs for shot in s.spec.shots)

    env = {"SHOTFARM_S3_ENDPOINT": f"http://127.0.0.1:{proxy.port}", "SHOTFARM_S3_ACCESS_KEY": tier.access_key,
           "SHOTFARM_S3_SECRET_KEY": tier.secret_key}  # fmt: skip
    try:
        proc = start(spec, out, outcome.store_url, env)
        if wait_for(moment, proc, out):
            proxy.down()
            outcome.faults += 1
            outcome.detail["when"] = when
            failed, down_at = count(out, "ChunkFailed"), time.monotonic()
            time.sleep(seconds)
            if when == "renders":
                # Down until a chunk's write has met it (a loaded machine may render no chunk to its end
                # within `seconds`), up to three times as long: an outage no write saw tests nothing.
                wait_for(lambda: count(out, "ChunkFailed") > failed, proc, out, timeout=2 * seconds)
            outcome.detail["down_s"] = round(time.monotonic() - down_at, 1)
            proxy.up()
        else:
            outcome.notes.append("the run ended before the outage")
        result = finish(proc, out)
    finally:
        proxy.close()
    return outcome.ended(*result, clean)


def corrupt_frame(spec: Path, work: Path, clean: Baseline, rng: random.Random) -> Outcome:
    """Flip a byte of a recorded frame in the local store before its shot is mastered."""
    outcome = Outcome("corrupt-frame", work / "corrupt-frame", str(work / "corrupt-frame"))
    out, proc, victim = outcome.out, start(spec, outcome.out), []

    def pick() -> bool:
        for seq in replay(log_events(out)).sequences.values():
            for chunk in seq.chunks_in(ChunkStatus.RENDERED):
                shot = seq.spec.shot(chunk.plan.shot)
                pending = [c for c in seq.chunks.values() if c.plan.shot == shot.name and c.status is not ChunkStatus.RENDERED]
                # A frame the master uses (inside the cut range) that no cut check reads (not a
                # boundary), of a shot with chunks still to come, so it cannot be mastered yet.
                inner = [f for f in chunk.frames if shot.frames.first < f.frame < shot.frames.last]
                if len(pending) >= 2 and inner:
                    victim[:] = [chunk.plan.chunk_id, rng.choice(inner).key]
                    return True
        return False

    if wait_for(pick, proc, out):
        data = bytearray((out / victim[1]).read_bytes())
        data[len(data) // 2] ^= 0x5A
        (out / victim[1]).write_bytes(bytes(data))
        outcome.faults += 1
        outcome.detail.update(chunk=victim[0], key=victim[1])
    else:
        outcome.notes.append("no recorded frame could be corrupted before mastering")
    return outcome.ended(*finish(proc, out), clean)


# -- the report ------------------------------------------------------------------------------

COLUMNS = ("scenario", "runs", "faults injected", "runs completed", "frames lost", "re-rendered after recorded",
           "retries", "invalidated", "extra node-s per run")  # fmt: skip


def table(clean: Baseline, outcomes: dict[str, list[Outcome]]) -> str:
    rows = [COLUMNS]
    for name, runs in outcomes.items():
        extra = sum(o.node_seconds - clean.node_seconds for o in runs) / len(runs)
        total = lambda attr: str(sum(getattr(o, attr) for o in runs))  # noqa: E731
        rows.append((name, str(len(runs)), total("faults"), f"{total('completed')}/{len(runs)}", total("frames_lost"),
                     total("rerendered"), total("retries"), total("invalidated"), f"{extra:+.1f}"))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Chaos report for shotfarm render runs.")
    p.add_argument("--repeat", type=int, default=3, help="runs per scenario")
    p.add_argument("--kills", type=int, default=5, help="orchestrator kills per run")
    p.add_argument("--outage", type=float, default=10.0, help="seconds the S3 server is down")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--only", nargs="*", choices=("orchestrator", "render-node", "s3-outage", "corrupt-frame"))
    args = p.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng, tier = random.Random(seed), moto_tier()
    scenarios: dict[str, Callable[..., Outcome]] = {
        "orchestrator": lambda *a: orchestrator_kills(*a, kills=args.kills),
        "render-node": render_node_kills,
        "s3-outage": lambda *a: s3_outage(*a, tier=tier, seconds=args.outage),
        "corrupt-frame": corrupt_frame,
    }
    started, outcomes = time.monotonic(), {}
    with tempfile.TemporaryDirectory(prefix="shotfarm-chaos-") as tmp:
        spec = write_spec(Path(tmp))
        clean = clean_run(spec, Path(tmp))
        print(f"seed {seed}; clean run: {len(clean.master)} master objects, {clean.rows} events, "
              f"{clean.node_seconds:.1f} node-s", flush=True)  # fmt: skip
        for name, run in scenarios.items():
            if (args.only and name not in args.only) or (name == "s3-outage" and tier is None):
                print(f"{name}: skipped" + (" (no moto: scripts/s3-servers.sh start)" if tier is None else ""))
                continue
            for i in range(args.repeat):
                o = run(spec, Path(tmp) / f"{name}-{i}", clean, rng)
                outcomes.setdefault(name, []).append(o)
                print(f"{name} #{i + 1}: completed={o.completed} faults={o.faults} lost={o.frames_lost} "
                      f"rerendered={o.rerendered} retries={o.retries} {o.detail or ''} {'; '.join(o.notes + o.differs)}",
                      flush=True)  # fmt: skip
    print(f"\n{table(clean, outcomes)}\n\n{time.monotonic() - started:.0f}s wall")
    return 1 if any(o.frames_lost or o.rerendered or not o.completed for r in outcomes.values() for o in r) else 0


if __name__ == "__main__":
    sys.exit(main())
