"""Abuse report: a real `shotfarm serve` on loopback against a seeded set of hostile requests.

Run by hand:  .venv/bin/python bench/abuse.py [--generated 200] [--seed 1]

It starts `shotfarm serve` (one CPU render slot) in a fresh folder, first
sends benign requests (the baseline: good specs, reads, the health check),
then every class of hostile input the farm must survive (non-finite numbers,
unbounded frame ranges, huge and deep documents, deep and NaN OpenTimelineIO
cuts, a day-long EDL clip, odd resolutions, booleans as numbers, 50 MB of free
text, a token in a URL, a refused previs upload, hostile query values), then
`--generated` seeded mutations of a good spec. While each request is in
flight a second thread polls /healthz. It prints:

  cases tried, 2xx, 4xx, 5xx, process deaths (the server, or any of its
  processes gone), peak RSS of the largest server process and of the whole
  process tree (beside the benign baseline, as a ratio), the longest /healthz
  answer while a hostile request was in flight (beside the benign one), and
  `shotfarm log verify` once the server has stopped.

Targets: 0 5xx, 0 deaths, peak RSS under 1 GiB, no /healthz stall over 1 s,
log consistent. Every request goes to 127.0.0.1 only, and the run is bounded
in count and time; it stops the server it started and nothing else.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import opentimelineio as otio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.spec import limits  # noqa: E402
from tests.builders import shot, spec, with_value  # noqa: E402
from tests.pipelines.editorial.support import mapping  # noqa: E402

DEMO = "abuse-demo-token-0123456789"
ADMIN = "abuse-admin-token-0123456789"
SHOTFARM = ROOT / ".venv" / "bin" / "shotfarm"
JSON = {"Content-Type": "application/json"}
YAML = {"Content-Type": "application/yaml"}


# -- the server and its processes ------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree(pid: int) -> list[int]:
    """The process and every descendant, from /proc (children files need no extra package)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return out


def rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


ACTORS = ("Coordinator", "RenderNode", "MasterNode", "CheckNode", "PrevisNode")


def _actor_title(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            title = f.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return None
    return title if title.startswith("ray::") and any(a in title for a in ACTORS) else None


@dataclass
class Watch:
    """Samples the server tree's memory, and /healthz latency, until stopped."""

    pid: int
    url: str
    peak_process: int = 0
    peak_tree: int = 0
    longest_health: float = 0.0
    health_failures: int = 0
    actors: dict[int, str] = field(default_factory=dict)
    """Long-lived actor processes seen (pid -> title): one that vanishes mid-run died."""
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Watch:
        threading.Thread(target=self._memory, daemon=True).start()
        threading.Thread(target=self._health, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def reset(self) -> None:
        self.peak_process = self.peak_tree = 0
        self.longest_health, self.health_failures = 0.0, 0

    def _memory(self) -> None:
        while not self._stop.is_set():
            pids = tree(self.pid)
            for pid in pids:
                if pid not in self.actors and (title := _actor_title(pid)):
                    self.actors[pid] = title
            sizes = [rss(p) for p in pids]
            self.peak_process = max(self.peak_process, max(sizes, default=0))
            self.peak_tree = max(self.peak_tree, sum(sizes))
            time.sleep(0.05)

    def _health(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as c:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    ok = c.get("/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                took = time.monotonic() - started
                self.longest_health = max(self.longest_health, took)
                self.health_failures += not ok
                time.sleep(0.05)


# -- the cases ---------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    send: Callable[[httpx.Client], httpx.Response]
    after: Callable[[httpx.Response, Path], str | None] = lambda r, out: None
    """Extra check once answered: None when it held, else what went wrong."""


def post_spec(data: Any, kind: str = "json") -> Callable[[httpx.Client], httpx.Response]:
    if isinstance(data, (bytes, str)):
        body = data.encode() if isinstance(data, str) else data
    else:
        body = json.dumps(data).encode() if kind == "json" else _yaml(data).encode()
    return lambda c: c.post("/v1/sequences", content=body, headers=JSON if kind == "json" else YAML)


def _yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data)


def cut(clips: list[tuple[str, float, float]], rate: float = 24.0, meta: str | None = None) -> bytes:
    track = otio.schema.Track(name="V1")
    for name, start, duration in clips:
        rng = otio.opentime.TimeRange(otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(duration, rate))
        track.append(otio.schema.Clip(name=name, source_range=rng))
    text = otio.adapters.write_to_string(otio.schema.Timeline(tracks=[track]), "otio_json")
    if meta is not None:
        doc = json.loads(text)
        doc["metadata"] = {"x": "X"}
        text = json.dumps(doc).replace('"X"', meta)
    return text.encode()


def post_cut(data: bytes, name: str) -> Callable[[httpx.Client], httpx.Response]:
    return lambda c: c.post(
        "/v1/editorial", files={"cut": (name, data)}, data={"mapping": json.dumps(mapping()), "dry_run": "true"}
    )


def nothing_previs(r: httpx.Response, out: Path) -> str | None:
    left = [p for p in (out / "demo" / "_previs").rglob("*") if p.is_file()]
    return f"{len(left)} refused upload file(s) left in the store" if left else None


def radius(value: Any) -> dict[str, Any]:
    return with_value(spec(), ("scenes", "set", "objects", 1, "radius"), value)


def handcrafted() -> list[Case]:
    day_edl = (
        "TITLE: day\nFCM: NON-DROP FRAME\n\n"
        "001  AX       V     C        00:00:00:00 23:59:59:00 01:00:00:00 24:59:59:00\n* FROM CLIP NAME: day\n"
    ).encode()
    many_objects = spec()
    many_objects["scenes"]["set"]["objects"] += [
        {"type": "sphere", "name": f"o{i}", "center": [0, 0, 0], "radius": 1, "material": "grey"} for i in range(30_000)
    ]
    return [
        Case("NaN radius (JSON)", post_spec(json.dumps(radius(math.nan)))),
        Case("Infinity position (JSON)", post_spec(json.dumps(spec()).replace("[0, 1, 0]", "[Infinity, 1, 0]", 1))),
        Case(".nan radius (YAML)", post_spec(radius(math.nan), "yaml")),
        Case("frames.last 1e12", post_spec(spec(shot("sh010", 1001, 10**12)))),
        Case("OTIO clip of 1e15 frames", post_cut(cut([("a", 0, 1e15)]), "long.otio")),
        Case("EDL clip of 24 hours", post_cut(day_edl, "day.edl")),
        Case("2 MB of a million invalid items", post_spec(json.dumps({"shots": [0] * 1_000_000}))),
        Case("OTIO nested 50,000 levels", post_cut(cut([("a", 0, 12)], meta="[" * 50_000 + "]" * 50_000), "deep.otio")),
        Case("JSON spec nested 50,000 levels", post_spec("[" * 50_000 + "]" * 50_000)),
        Case("YAML spec nested 50,000 levels", post_spec("a: " + "[" * 50_000 + "]" * 50_000, "yaml")),
        Case("30,000 objects", post_spec(many_objects)),
        Case("OTIO time NaN", post_cut(cut([("a", 0, math.nan)]), "nan.otio")),
        Case("odd resolution 16x9", post_spec(spec(resolution=[16, 9]))),
        Case("samples: true", post_spec(spec(samples=True))),
        Case("50 MB continuity.location", post_spec(spec(shot("sh010", 1001, 1008, continuity={"location": "x" * 50_000_000})))),
        Case("YAML alias bomb", post_spec('a: &a ["x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b]\n', "yaml")),
        Case("a key given twice", post_spec('{"show": "demo", "show": "x"}')),
        Case("token in the URL query", lambda c: c.get(f"/v1/sequences?token={DEMO}")),
        Case("refused previs upload", lambda c: c.post("/v1/previs", files={"movie": ("x.mov", b"not a movie" * 1000)}, data={"show": "demo"}), nothing_previs),
        Case("after=10^40", lambda c: c.get("/v1/events?after=" + "9" * 40)),
        Case("exposure=nan", lambda c: c.get("/v1/sequences/demo:sq010/shots/sh010/frames/1001/preview.png?exposure=nan")),
        Case("a 5,000-character sequence id", lambda c: c.get("/v1/sequences/" + "a" * 5000 + ":b")),
    ]


HOSTILE_VALUES: list[Any] = [
    math.nan, math.inf, -math.inf, 1e308, -1, -(2**63), 10**30, True, None, "", "x" * 5000,
    [0] * (limits.MAX_ITEMS + 1), {"first": 0, "last": limits.MAX_FRAME + 1}, "1e99999999", [[[[[]]]]], {},
]


def leaf_paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        out += leaf_paths(v, (*prefix, k))
    return out


def generated(n: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    base = spec(shot("sh010", 1001, 1004))
    places = leaf_paths(base)
    cases = []
    for i in range(n):
        data = base
        for _ in range(rng.randint(1, 3)):
            try:
                data = with_value(data, rng.choice(places), rng.choice(HOSTILE_VALUES))
            except (KeyError, IndexError, TypeError):
                pass
        if isinstance(data, dict):
            data = data | {"sequence": f"gen{i:04d}"}
        cases.append(Case(f"generated #{i}", post_spec(data, rng.choice(["json", "yaml"]))))
    return cases


def benign(n: int) -> list[Case]:
    cases = [Case(f"good spec #{i}", post_spec(spec(shot("sh010", 1001, 1002)) | {"sequence": f"ok{i:03d}"})) for i in range(n)]
    cases += [Case("list sequences", lambda c: c.get("/v1/sequences")), Case("health", lambda c: c.get("/healthz"))]
    return cases


# -- the run -----------------------------------------------------------------------


@dataclass
class Tally:
    tried: int = 0
    ok: int = 0
    client_errors: int = 0
    server_errors: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")


def run_cases(c: httpx.Client, cases: list[Case], out: Path, tally: Tally) -> None:
    for case in cases:
        tally.tried += 1
        started = time.monotonic()
        try:
            r = case.send(c)
        except httpx.HTTPError as e:
            tally.server_errors.append(f"{case.name}: no answer ({type(e).__name__})")
            continue
        took = time.monotonic() - started
        tally.slowest = max(tally.slowest, (took, case.name))
        if r.status_code >= 500:
            tally.server_errors.append(f"{case.name}: {r.status_code} {r.text[:200]}")
        elif r.status_code >= 400:
            tally.client_errors += 1
        else:
            tally.ok += 1
        problem = case.after(r, out)
        if problem:
            tally.failed_checks.append(f"{case.name}: {problem}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--generated", type=int, default=200, help="seeded mutations of a good spec (bounded)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--benign", type=int, default=20, help="good submissions for the baseline")
    args = p.parse_args()
    if not 0 <= args.generated <= 5000:
        p.error("--generated must be from 0 to 5,000")

    with tempfile.TemporaryDirectory(prefix="shotfarm-abuse-") as tmp:
        out = Path(tmp) / "out"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, SHOTFARM_TOKENS=f"{DEMO}=demo,other;{ADMIN}=*", RAY_USAGE_STATS_ENABLED="0")
        env.pop("RAY_ADDRESS", None)
        log = open(Path(tmp) / "serve.log", "w+")
        server = subprocess.Popen(
            [str(SHOTFARM), "serve", "--out", str(out), "--port", str(port), "--cpus", "1"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None:
                    print(f"the server did not start:\n{Path(tmp, 'serve.log').read_text()[-3000:]}")
                    return 1
                time.sleep(0.25)
            watch = Watch(server.pid, url).start()
            time.sleep(1.0)
            with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {DEMO}"}) as c:
                base = Tally()
                run_cases(c, benign(args.benign), out, base)
                time.sleep(0.5)
                base_process, base_tree, base_health = watch.peak_process, watch.peak_tree, watch.longest_health
                watch.reset()
                hostile = Tally()
                run_cases(c, handcrafted(), out, hostile)
                run_cases(c, generated(args.generated, args.seed), out, hostile)
                alive_before_stop = server.poll() is None
                health = c.get("/healthz").json()
            watch.stop()
            died = [title for pid, title in watch.actors.items() if not Path(f"/proc/{pid}").exists()]
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
                try:
                    server.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    os.killpg(server.pid, signal.SIGKILL)
                    server.wait()
        log.seek(0)
        serve_log = log.read()
        log.close()
        verify = subprocess.run([str(SHOTFARM), "log", "verify", "--out", str(out)], capture_output=True, text=True, timeout=300)

    mib = 1024 * 1024
    deaths = (0 if alive_before_stop else 1) + len(died)
    token_logged = DEMO in serve_log
    print(f"cases tried        {hostile.tried} hostile ({len(handcrafted())} handcrafted, {args.generated} generated, seed {args.seed}); {base.tried} benign")
    print(f"answers            {hostile.ok} 2xx, {hostile.client_errors} 4xx, {len(hostile.server_errors)} 5xx or no answer")
    print(f"process deaths     {deaths} (server alive to the end: {alive_before_stop}; actors gone: {died or 'none'} "
          f"of {len(watch.actors)} seen; health {health['status']})")
    print(f"peak RSS           largest process {watch.peak_process / mib:.0f} MiB (benign {base_process / mib:.0f} MiB, "
          f"ratio {watch.peak_process / max(base_process, 1):.2f}); whole tree {watch.peak_tree / mib:.0f} MiB "
          f"(benign {base_tree / mib:.0f} MiB, ratio {watch.peak_tree / max(base_tree, 1):.2f})")
    print(f"/healthz longest   {watch.longest_health * 1000:.0f} ms with hostile requests in flight "
          f"(benign {base_health * 1000:.0f} ms, ratio {watch.longest_health / max(base_health, 1e-6):.2f}); "
          f"{watch.health_failures} failed")
    print(f"slowest request    {hostile.slowest[0] * 1000:.0f} ms ({hostile.slowest[1]})")
    print(f"token in the log   {'YES' if token_logged else 'no'}")
    print(f"log verify         exit {verify.returncode}: {verify.stdout.strip().splitlines()[-1] if verify.stdout.strip() else verify.stderr.strip()}")
    for line in hostile.server_errors + hostile.failed_checks:
        print(f"  ! {line}")
    good = (
        not hostile.server_errors and not hostile.failed_checks and deaths == 0 and not token_logged
        and watch.peak_process < 1024 * mib and watch.longest_health < 1.0 and verify.returncode == 0
    )
    print("targets            " + ("met" if good else "MISSED"))
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
