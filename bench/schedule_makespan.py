"""Makespan against its lower bound: shotfarm's policy with FIFO-by-priority beside it.

Simulates a heavy-tailed studio workload (several shows, one of them 4K that
only H100 and L40S hold) on a four-class GPU farm, once per policy on the
same world, and prints makespan / max(work / capacity, longest chunk) for
each, plus what the reordering costs the streaming master (how long until
each sequence's first shot is complete). Goal: <= 1.05 for shotfarm.

    .venv/bin/python bench/schedule_makespan.py [--gpus 1000] [--chunks 100000] [--seeds 1 2 3]
"""

from __future__ import annotations

import argparse
import time

from orchestrator.scheduling import baseline
from orchestrator.simulation import workload
from orchestrator.simulation.simulate import Simulator, World


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--gpus", type=int, default=1000)
    p.add_argument("--chunks", type=int, default=100_000)
    p.add_argument("--shows", type=int, default=4)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = p.parse_args()
    farm = workload.gpu_farm(args.gpus)
    print(f"farm: {', '.join(f'{c.count} {c.name} (speed {c.speed})' for c in farm.classes)}")
    print(f"{'seed':>4} {'chunks':>8} {'policy':>9} {'makespan s':>11} {'bound s':>9} {'ratio':>6} "
          f"{'util':>6} {'first shot s':>12} {'sim s':>6}")  # fmt: skip
    ratios: dict[str, list[float]] = {"shotfarm": [], "fifo": []}
    for seed in args.seeds:
        sequences = workload.studio(chunks=args.chunks, shows=args.shows, sequences_per_show=5, seed=seed)
        chunks = sum(len(s.chunks) for s in sequences)
        for name, planner in (("shotfarm", None), ("fifo", baseline.plan)):
            started = time.perf_counter()
            sim = Simulator(farm, sequences, World(seed=seed))
            r = sim.run(name=name) if planner is None else sim.run(planner=planner, name=name)
            took = time.perf_counter() - started
            ratios[name].append(r.ratio)
            print(f"{seed:>4} {chunks:>8,} {name:>9} {r.makespan:>11,.0f} {r.lower_bound:>9,.0f} {r.ratio:>6.3f} "
                  f"{100 * r.utilisation:>5.1f}% {r.first_shot_latency:>12,.0f} {took:>6.1f}")  # fmt: skip
    for name, values in ratios.items():
        print(f"{name}: makespan / lower bound, mean {sum(values) / len(values):.3f}, worst {max(values):.3f}")


if __name__ == "__main__":
    main()
