"""`shotfarm simulate`: the policy against a simulated farm, with FIFO beside it.

Argument parsing and printing only; the simulation itself is simulate.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestrator.interfaces import arguments
from orchestrator.scheduling import baseline
from orchestrator.scheduling.farm import FarmConfig
from orchestrator.simulation import workload
from orchestrator.simulation.simulate import Simulator, World
from pipelines.spec.errors import SpecError

POLICIES = {"shotfarm": None, "fifo": baseline.plan}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gpus", type=arguments.count(1, 100_000), default=1000, help="nodes of the four-class GPU farm (ignored with --farm)")
    p.add_argument("--farm", type=Path, help="farm config: node classes with counts, subscriptions")
    p.add_argument("--chunks", type=arguments.count(1, 10_000_000), default=100_000)
    p.add_argument("--shows", type=arguments.count(1, 1000), default=4)
    p.add_argument("--sequences-per-show", type=arguments.count(1, 1000), default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--policy", choices=[*POLICIES, "both"], default="both")
    p.add_argument("--failure-rate", type=arguments.real(0, 1), default=0.005, help="chance any attempt fails")
    p.add_argument("--bad-nodes", type=arguments.real(0, 1), default=0.002, help="fraction of nodes that fail most attempts")
    p.add_argument("--shares", help="guaranteed shares, e.g. show1=0.5,show2=0.3,show3=0.2")
    p.add_argument("--budget", type=arguments.real(0.01, 1e9), help="budget in USD for every sequence")


def farm_of(args: argparse.Namespace) -> FarmConfig:
    if args.farm is not None:
        from orchestrator.config.farm_file import load_farm

        farm = load_farm(args.farm)
    else:
        farm = workload.gpu_farm(args.gpus)
    if args.shares:
        try:
            shares = {k: float(v) for k, v in (part.split("=", 1) for part in args.shares.split(",")[:1000])}
            farm = workload.with_shares(farm, shares)
        except ValueError as e:  # a malformed pair, or shares the farm config refuses
            first = str(e).strip().splitlines()
            raise SpecError("--shares", [("", f"expected show=fraction,show=fraction ({first[0][:200] if first else e})")]) from None
    return farm


def main(args: argparse.Namespace) -> int:
    farm = farm_of(args)
    sequences = workload.studio(
        chunks=args.chunks,
        shows=args.shows,
        sequences_per_show=args.sequences_per_show,
        seed=args.seed,
        budget_usd=args.budget,
    )
    world = World(failure_rate=args.failure_rate, bad_nodes=args.bad_nodes, seed=args.seed)
    nodes = ", ".join(f"{c.count} {c.name}" for c in farm.classes if c.count)
    print(f"farm          {nodes}")
    print(f"work          {sum(len(s.chunks) for s in sequences):,} chunks in {len(sequences)} sequences "
          f"from {args.shows} shows, {workload.total_work(sequences):,.0f} node-seconds at speed 1")  # fmt: skip
    names = list(POLICIES) if args.policy == "both" else [args.policy]
    for name in names:
        sim = Simulator(farm, sequences, world)
        planner = POLICIES[name]
        report = sim.run(name=name) if planner is None else sim.run(planner=planner, name=name)
        print()
        for line in report.lines():
            print(line)
    return 0
