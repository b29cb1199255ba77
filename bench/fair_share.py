"""Fair share: three shows subscribed 50/30/20 on a saturated farm, FIFO-by-priority beside it.

Every show has more work than the farm can finish before the first of them
runs dry; GPU-seconds are counted from the start until that moment (the
saturated window) and compared with the shares. Goal: each show within 5%
(absolute) of its share for shotfarm.

    .venv/bin/python bench/fair_share.py [--gpus 200] [--chunks 30000] [--seed 1]
"""

from __future__ import annotations

import argparse

from orchestrator.scheduling import baseline
from orchestrator.simulation import workload
from orchestrator.simulation.simulate import Simulator, World

SHARES = {"show1": 0.5, "show2": 0.3, "show3": 0.2}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--gpus", type=int, default=200)
    p.add_argument("--chunks", type=int, default=30_000)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    farm = workload.with_shares(workload.gpu_farm(args.gpus), SHARES)
    # Same work for every show, all submitted at once, no 4K show: shares decide everything.
    sequences = workload.studio(chunks=args.chunks, shows=3, sequences_per_show=4, seed=args.seed, uhd_show=False)
    print(f"{args.gpus} GPUs, {sum(len(s.chunks) for s in sequences):,} chunks, shares {SHARES}")
    for name, planner in (("shotfarm", None), ("fifo", baseline.plan)):
        sim = Simulator(farm, sequences, World(seed=args.seed))
        r = sim.run(name=name) if planner is None else sim.run(planner=planner, name=name)
        got = {s: r.saturated_share.get(s, 0.0) for s in SHARES}
        points = max(abs(got[s] - share) for s, share in SHARES.items())
        relative = max(abs(got[s] - share) / share for s, share in SHARES.items())
        shares = "  ".join(f"{s} {100 * got[s]:5.1f}%" for s in SHARES)
        print(f"{name:>9}: saturated until {r.saturated_until:,.0f} s  {shares}  "
              f"worst: {100 * points:.1f} points, {100 * relative:.1f}% of its share")  # fmt: skip


if __name__ == "__main__":
    main()
