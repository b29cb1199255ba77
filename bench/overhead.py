"""The farm's own overhead, end to end: how much of the machine went to rendering.

Runs `shotfarm render` on a spec (default: the teaser `make demo` renders)
into a fresh folder, samples every process it starts from /proc while it
runs, then reads the event log and reports:

- node-seconds rendering (the sum of ChunkRendered.node_seconds), and the
  ratio node-seconds / (cores x wall), wall being the whole command;
- the idle core-seconds (cores x wall - node-seconds), phase by phase:
  start-up before Ray (imports, the quote's calibration render), Ray's own
  start-up, actor creation, planning and first dispatch, gaps between
  chunks, the tail where some nodes have nothing left, checks and stitches
  after the last render, the deliverables (encodes), shut-down;
- the CPU each kind of process used (render nodes, master, checker,
  coordinator, the command itself, Ray's daemons), the render nodes' share
  of it, and the rest of the machine's load, so a noisy run shows up as one
  (wall-clock figures stretch with other work; the CPU share does not);
- the digests of the master EXRs and deliverables, to compare two runs
  byte for byte (`--record FILE` writes them, `--expect FILE` compares),
  and of the review proxy's decoded pictures, whose file bytes vary from
  run to run even of the same code.

    .venv/bin/python bench/overhead.py [--spec examples/teaser.yaml] [--cpus 2] [--record digests.json | --expect digests.json]

Exit status 1 when --expect finds different outputs (any but the review
proxy's file bytes) or the render failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")

KINDS = (
    ("ray::RenderNode", "render nodes"),
    ("ray::MasterNode", "master node"),
    ("ray::CheckNode", "check node"),
    ("ray::CoordinatorActor", "coordinator"),
    ("gcs_server", "Ray daemons"),
    ("raylet", "Ray daemons"),
    ("ray/dashboard", "Ray daemons"),
    ("log_monitor", "Ray daemons"),
    ("monitor.py", "Ray daemons"),
    ("runtime_env", "Ray daemons"),
    ("ray::", "Ray idle workers"),
    ("default_worker", "Ray idle workers"),
)


def kind_of(cmdline: str, root: bool) -> str:
    if root:
        return "the command (imports, quote, progress)"
    for needle, kind in KINDS:
        if needle in cmdline:
            return kind
    return "other children (engines, encoders)"


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, CPU ticks used) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def _machine_busy() -> float:
    """Seconds of CPU the whole machine has used since boot (all cores)."""
    parts = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in parts[:8])
    return (user + nice + system + irq + softirq + steal) / TICK


@dataclass
class Sampler:
    """CPU of a process tree by kind, sampled from /proc every `interval` seconds."""

    root: int
    interval: float = 0.2
    cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    first_seen: dict[str, float] = field(default_factory=dict)
    machine: float = 0.0
    _last: dict[int, tuple[str, int]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        busy0 = _machine_busy()
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)
        self.sample()
        self.machine = _machine_busy() - busy0

    def stop(self) -> None:
        self._stop.set()

    def sample(self) -> None:
        parents: dict[int, int] = {}
        ticks: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                st = _stat(int(entry))
                if st is not None:
                    parents[int(entry)], ticks[int(entry)] = st
        tree, frontier = {self.root}, [self.root]
        children: dict[int, list[int]] = defaultdict(list)
        for pid, ppid in parents.items():
            children[ppid].append(pid)
        while frontier:
            for child in children.get(frontier.pop(), ()):
                if child not in tree:
                    tree.add(child)
                    frontier.append(child)
        now = time.time()
        for pid in tree & ticks.keys():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            kind = kind_of(cmd, pid == self.root)
            self.first_seen.setdefault(kind, now)
            before = self._last.get(pid)
            # A process counts in the kind it is now: Ray renames a worker when it becomes an actor.
            used = ticks[pid] - (before[1] if before else 0)
            self.cpu[kind] += used / TICK
            self._last[pid] = (kind, ticks[pid])


def read_log(path: Path) -> list[tuple[str, dict]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [(t, json.loads(b)) for t, b in db.execute("SELECT type, body FROM events ORDER BY seq")]
    finally:
        db.close()


def busy_within(intervals: list[tuple[float, float]], a: float, b: float) -> float:
    return sum(max(0.0, min(e, b) - max(s, a)) for s, e in intervals)


def analyse(events: list[tuple[str, dict]], t0: float, t_end: float, cores: int, sampler: Sampler) -> dict:
    rendered = [b for t, b in events if t == "ChunkRendered"]
    intervals = [(b["at"] - b["node_seconds"], b["at"]) for b in rendered]
    by_node: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for b in rendered:
        by_node[b["node_id"]].append((b["at"] - b["node_seconds"], b["at"]))
    at = {t: b["at"] for t, b in events}  # the last of each type
    pool = min(b["at"] for t, b in events if t == "PoolStarted")
    first = min(s for s, _ in intervals)
    last = max(e for _, e in intervals)
    tail = min(max(e for _, e in iv) for iv in by_node.values())
    after = [b["at"] for t, b in events if t in ("SegmentStitched", "CutChecked") and b["at"] >= last]
    stitched = max(after, default=last)
    master = at.get("MasterStitched", stitched)
    ray_up = sampler.first_seen.get("Ray daemons", pool)
    coordinator = sampler.first_seen.get("coordinator", ray_up)
    marks = [
        ("start-up before Ray: imports, the quote's calibration render", t0, min(ray_up, pool)),
        ("Ray start-up", min(ray_up, pool), min(coordinator, pool)),
        ("actor creation: coordinator, render, master and check nodes", min(coordinator, pool), pool),
        ("planning and first dispatch (PoolStarted to first render)", pool, first),
        ("rendering: gaps between chunks (dispatch, waiting on checks)", first, tail),
        ("tail: some nodes have no chunk left", tail, last),
        ("checks and segment stitches after the last render", last, stitched),
        ("deliverables: contact sheet, HDR10 and SDR encodes", stitched, master),
        ("shut-down", master, t_end),
    ]
    phases = []
    for name, a, b in marks:
        span = max(0.0, b - a)
        phases.append((name, span, cores * span - busy_within(intervals, a, b)))
    node_seconds = sum(b["node_seconds"] for b in rendered)
    # A chunk rendered again (its shot requeued by a continuity fix): only the last render reaches the master.
    last_of = {b["chunk_id"]: i for i, b in enumerate(rendered)}
    superseded = sum(b["node_seconds"] for i, b in enumerate(rendered) if last_of[b["chunk_id"]] != i)
    wall = t_end - t0
    return {
        "wall": wall, "cores": cores, "node_seconds": node_seconds, "ratio": node_seconds / (cores * wall),
        "chunks": len(rendered), "phases": phases, "superseded": superseded,
    }  # fmt: skip


def digests(events: list[tuple[str, dict]], folder: Path) -> dict[str, str]:
    masters = [b for t, b in events if t == "MasterStitched"]
    if not masters:
        return {}
    master = masters[-1]
    out = {f"master/{f['frame']:06d}.exr": f["digest"] for f in master["frames"]}
    out |= {name: f["digest"] for name, f in master.get("deliverables", {}).items()}
    proxy = next(folder.rglob("review_sdr.mp4"), None)
    if proxy is not None:
        out[PICTURES] = pictures_digest(proxy)
    return out


PICTURES = "review_sdr.mp4 (decoded pictures)"
"""The review proxy's bytes vary from run to run of the same code (x264); its decoded pictures must not."""


def pictures_digest(path: Path) -> str:
    import av  # the bench's only use of PyAV: keep its start-up out of the other figures

    h = hashlib.sha256()
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            for plane in frame.planes:
                h.update(bytes(plane))
    return h.hexdigest()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spec", type=Path, default=ROOT / "examples" / "teaser.yaml")
    p.add_argument("--cpus", type=int, default=None, help="--cpus for the render (default: all)")
    p.add_argument("--out", type=Path, help="output folder (default: a fresh temporary one, removed after)")
    p.add_argument("--tree", type=Path, default=ROOT, help="run the code of this checkout (a baseline: a worktree of an earlier commit)")
    p.add_argument("--record", type=Path, help="write the outputs' digests here")
    p.add_argument("--expect", type=Path, help="compare the outputs' digests with this file")
    p.add_argument("--interval", type=float, default=0.2, help="seconds between /proc samples")
    args = p.parse_args()
    cores = args.cpus or len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="shotfarm-overhead-") as tmp:
        out = args.out or Path(tmp) / "out"
        tree = args.tree.resolve()
        cmd = [str(ROOT / ".venv" / "bin" / "python"), "-m", "orchestrator.interfaces.cli", "render", str(args.spec.resolve())]
        cmd += ["--out", str(out), "--output", "json"] + (["--cpus", str(args.cpus)] if args.cpus else [])
        # PYTHONPATH reaches Ray's workers too: every process runs the checkout's code.
        env = os.environ | {"RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(tree)}
        t0 = time.time()
        proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=open(Path(tmp) / "stderr", "wb"))
        sampler = Sampler(proc.pid, args.interval)
        thread = threading.Thread(target=sampler.run, daemon=True)
        thread.start()
        stdout, _ = proc.communicate()
        t_end = time.time()
        sampler.stop()
        thread.join()
        if proc.returncode != 0:
            sys.stderr.write((Path(tmp) / "stderr").read_text()[-4000:])
            print(f"render failed (exit {proc.returncode})")
            return 1
        events = read_log(out / "shotfarm.db")
        found = digests(events, out)
    r = analyse(events, t0, t_end, cores, sampler)
    print(f"{args.spec.name} ({tree}): {r['chunks']} chunks on {cores} cores, wall {r['wall']:.1f} s")
    print(f"node-seconds rendering  {r['node_seconds']:7.1f}, of which {r['superseded']:.1f} on chunks rendered again after a fix")
    print(f"ratio node-seconds / (cores x wall) = {r['node_seconds']:.1f} / ({cores} x {r['wall']:.1f} s) = {r['ratio']:.3f}")
    idle = cores * r["wall"] - r["node_seconds"]
    print(f"idle core-seconds       {idle:7.1f}, by phase (wall s, idle core-s):")
    for name, span, phase_idle in r["phases"]:
        print(f"  {span:6.1f} s {phase_idle:7.1f}  {name}")
    print("CPU by process (core-seconds):")
    for kind, seconds in sorted(sampler.cpu.items(), key=lambda kv: -kv[1]):
        print(f"  {seconds:7.1f}  {kind}")
    ours = sum(sampler.cpu.values())
    others = max(0.0, sampler.machine - ours)
    print(f"  {others:7.1f}  the rest of the machine (other work during the run)")
    # When other work shares the machine, wall-clock figures stretch with it; the CPU share does not.
    print(f"render nodes' share of the farm's CPU: {sampler.cpu.get('render nodes', 0.0) / max(ours, 1e-9):.3f}", end="")
    print(f"; the machine was {others / (cores * r['wall']):.0%} busy with other work" if others > 0.05 * cores * r["wall"] else "")
    summary = json.loads(stdout) if stdout.strip() else {}
    predicted = (summary.get("predicted") or {}).get("basis", "")
    print(f"quote basis: {predicted or 'none'}")
    if args.record:
        args.record.write_text(json.dumps(found, indent=1, sort_keys=True))
        print(f"{len(found)} output digests written to {args.record}")
    if args.expect:
        expected = json.loads(args.expect.read_text())
        differ = sorted(k for k in expected.keys() | found.keys() if expected.get(k) != found.get(k))
        # Everything must match but the review proxy's bytes (see PICTURES); its pictures are compared when both runs have them.
        must = [k for k in differ if k != "review_sdr.mp4" and (k != PICTURES or k in expected.keys() & found.keys())]
        exrs = [k for k in differ if k.endswith(".exr")]
        print(f"outputs vs {args.expect}: {len(found) - len(differ)} same, {len(differ)} differ ({len(exrs)} master EXRs)")
        for k in differ[:10]:
            print(f"  differs: {k}" + ("" if k in must else " (allowed: x264's bytes vary between runs)"))
        return 1 if must else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
