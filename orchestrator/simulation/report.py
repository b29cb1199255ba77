"""What a simulation measured: makespan against its lower bound, utilisation, shares, cost.

The lower bound is max(work / capacity, longest chunk on the fastest class
that can run it), taken over every group of classes some sequence is
restricted to (4K shots that only H100 and L40S hold must fit in their
capacity). Tally only counts what the simulator tells it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from orchestrator.scheduling.farm import FarmConfig, Need
from orchestrator.simulation.workload import SimSequence


@dataclass(frozen=True)
class Report:
    policy: str
    makespan: float
    lower_bound: float
    utilisation: float
    cost_usd: float
    show_seconds: dict[str, float]
    share_targets: dict[str, float]
    saturated_until: float
    saturated_share: dict[str, float]
    first_shot_latency: float
    completion: float
    dispatches: int
    preemptions: int
    failed_attempts: int
    gave_up: int
    blocks: int
    budget_pauses: int
    decisions: int
    trace: tuple[tuple, ...] = field(default=(), repr=False)

    @property
    def ratio(self) -> float:
        return self.makespan / self.lower_bound if self.lower_bound > 0 else float("nan")

    def lines(self) -> list[str]:
        total = sum(self.show_seconds.values()) or 1.0
        shows = "  ".join(
            f"{s} {100 * v / total:.1f}%" + (f" (share {100 * self.share_targets[s]:.0f}%)" if s in self.share_targets else "")
            for s, v in sorted(self.show_seconds.items())
        )
        saturated = "  ".join(f"{s} {100 * v:.1f}%" for s, v in sorted(self.saturated_share.items()))
        return [
            f"policy        {self.policy}",
            f"makespan      {self.makespan:,.0f} s ({_hms(self.makespan)})   lower bound {self.lower_bound:,.0f} s"
            f"   ratio {self.ratio:.3f}",
            f"utilisation   {100 * self.utilisation:.1f}% of node-time until the last chunk",
            f"cost          ${self.cost_usd:,.2f}",
            f"GPU-seconds   {shows}",
            f"saturated     until {self.saturated_until:,.0f} s: {saturated}",
            f"first shot    {self.first_shot_latency:,.0f} s after submission (mean over sequences)",
            f"sequence done {self.completion:,.0f} s after submission (mean)",
            f"dispatches    {self.dispatches:,}   preemptions {self.preemptions:,}   failed attempts "
            f"{self.failed_attempts:,}   chunks given up {self.gave_up:,}   blocks {self.blocks:,}"
            f"   budget pauses {self.budget_pauses:,}",
            f"decisions     {self.decisions:,}",
        ]


def _hms(seconds: float) -> str:
    m, s = divmod(int(seconds + 0.5), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}"


class Tally:
    def __init__(self, farm: FarmConfig, sequences: list[SimSequence], engine: str = "pathtracer", trace=False):
        self.farm, self.trace_on = farm, trace
        self.show_of = {s.sequence_id: s.sequence.show for s in sequences}
        self.submitted = {s.sequence_id: s.submit_at for s in sequences}
        self.first_shot = {s.sequence_id: s.sequence.timeline[0].name for s in sequences}
        self.shot_of = {(s.sequence_id, c.chunk_id): c.shot for s in sequences for c in s.chunks}
        self.left = Counter((sid, shot) for (sid, _), shot in self.shot_of.items())
        self.chunks_left = Counter(sid for sid, _ in self.shot_of)
        self.undispatched = Counter(self.show_of[sid] for sid, _ in self.shot_of)
        self.seen: set[tuple[str, str]] = set()
        self.drained: dict[str, float] = {}
        self.lower_bound = _lower_bound(farm, sequences, engine)
        self.intervals: list[tuple[float, float, str]] = []
        self.starts: dict[tuple, float] = {}
        self.first_done: dict[str, float] = {}
        self.done_at: dict[str, float] = {}
        self.counts: Counter[str] = Counter()
        self.cost = 0.0
        self.end = 0.0
        self.paused_seqs: set[str] = set()
        self.trace: list[tuple] = []

    def dispatched(self, t: float, key: tuple, node_id: str) -> None:
        self.counts["dispatches"] += 1
        if self.trace_on:
            self.trace.append((t, "dispatch", *key, node_id))
        if key[:2] not in self.seen:
            self.seen.add(key[:2])
            show = self.show_of[key[0]]
            self.undispatched[show] -= 1
            if self.undispatched[show] == 0:
                self.drained[show] = t

    def preempted(self, t: float, key: tuple, node_id: str) -> None:
        self.counts["preemptions"] += 1
        if self.trace_on:
            self.trace.append((t, "preempt", *key, node_id))

    def started(self, t: float, key: tuple, node_id: str) -> None:
        self.starts[key] = t

    def finished(self, t: float, key: tuple, node_id: str, ok: bool, seconds: float, cost: float) -> None:
        self.intervals.append((self.starts.pop(key), t, self.show_of[key[0]]))
        self.cost += cost
        self.end = max(self.end, t)
        if not ok:
            self.counts["failed"] += 1
            return
        sid = key[0]
        shot = self.shot_of[key[:2]]
        self.left[sid, shot] -= 1
        if shot == self.first_shot[sid] and self.left[sid, shot] == 0:
            self.first_done[sid] = t - self.submitted[sid]
        self.chunks_left[sid] -= 1
        if self.chunks_left[sid] == 0:
            self.done_at[sid] = t - self.submitted[sid]

    def gave_up(self, key: tuple) -> None:
        self.counts["gave_up"] += 1

    def blocked(self) -> None:
        self.counts["blocks"] += 1

    def paused(self, sequence_id: str) -> None:
        self.paused_seqs.add(sequence_id)

    def report(self, policy: str, decisions: int) -> Report:
        nodes = sum(c.count for c in self.farm.classes)
        busy = sum(b - a for a, b, _ in self.intervals)
        per_show: dict[str, float] = defaultdict(float)
        for a, b, show in self.intervals:
            per_show[show] += b - a
        until = min(self.drained.values(), default=self.end)
        window: dict[str, float] = defaultdict(float)
        for a, b, show in self.intervals:
            window[show] += max(0.0, min(b, until) - a)
        total = sum(window.values()) or 1.0
        targets = {s.show: s.share for s in self.farm.subscriptions}
        return Report(
            policy=policy,
            makespan=self.end,
            lower_bound=self.lower_bound,
            utilisation=busy / (nodes * self.end) if self.end else 0.0,
            cost_usd=self.cost,
            show_seconds=dict(per_show),
            share_targets=targets,
            saturated_until=until,
            saturated_share={s: v / total for s, v in window.items()},
            first_shot_latency=_mean(self.first_done.values()),
            completion=_mean(self.done_at.values()),
            dispatches=self.counts["dispatches"],
            preemptions=self.counts["preemptions"],
            failed_attempts=self.counts["failed"],
            gave_up=self.counts["gave_up"],
            blocks=self.counts["blocks"],
            budget_pauses=len(self.paused_seqs),
            decisions=decisions,
            trace=tuple(self.trace),
        )


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def _lower_bound(farm: FarmConfig, sequences: list[SimSequence], engine: str) -> float:
    speed = {c.name: c.speed for c in farm.classes if c.count}
    capacity = {c.name: c.count * c.speed for c in farm.classes}
    groups: dict[frozenset[str], float] = defaultdict(float)
    longest = 0.0
    for s in sequences:
        width, height = s.sequence.resolution
        capable = farm.capable(Need(engine, width * height)) & set(speed)
        groups[capable] += sum(s.work)
        if capable and s.work:
            longest = max(longest, max(s.work) / max(speed[k] for k in capable))
    groups.setdefault(frozenset(speed), 0.0)
    bound = longest
    for group in groups:
        work = sum(w for g, w in groups.items() if g <= group)
        cap = sum(capacity[k] for k in group)
        if cap > 0:
            bound = max(bound, work / cap)
    return bound
