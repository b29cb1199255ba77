"""The simulator: the live core and the fast board make the same decisions; the report adds up."""

from __future__ import annotations

import pytest

from orchestrator.core.state import Policy
from orchestrator.scheduling import baseline
from orchestrator.simulation import workload
from orchestrator.simulation.simulate import Simulator, World

WORLDS = {
    # seed: (farm slots, shares, budget) -- each exercises a different part of the policy
    1: (2, True, None),  # preemption at chunk boundaries, subscriptions, blocked nodes
    3: (2, False, 3.0),  # budgets pause sequences; preemption
    4: (1, False, None),  # many failures: blocks and forgiveness
}


def world_of(seed: int):
    slots, shares, budget = WORLDS[seed]
    sequences = workload.studio(
        chunks=120, shows=3, sequences_per_show=2, seed=seed, priorities=(10, 50, 90), budget_usd=budget
    )
    farm = workload.gpu_farm(7, slots=slots, block_after=2, forgive_after=300)
    if shares:
        farm = workload.with_shares(farm, {"show1": 0.5, "show2": 0.3}, burst=0.8)
    return farm, sequences, World(failure_rate=0.05, bad_nodes=0.2, seed=seed, policy=Policy(max_attempts=20))


@pytest.mark.parametrize("seed", sorted(WORLDS))
def test_the_fast_board_decides_exactly_as_the_live_core_does(seed):
    farm, sequences, world = world_of(seed)
    fast = Simulator(farm, sequences, world, trace=True).run("fast")
    core = Simulator(farm, sequences, world, trace=True).run("core")
    assert fast.trace == core.trace and len(fast.trace) > 50
    assert (fast.makespan, fast.cost_usd, fast.budget_pauses, fast.blocks) == (
        core.makespan, core.cost_usd, core.budget_pauses, core.blocks,
    )  # fmt: skip


def test_the_worlds_exercise_preemption_blocks_and_budgets():
    reports = {seed: Simulator(*world_of(seed)).run() for seed in WORLDS}
    assert reports[1].preemptions > 0 and reports[1].blocks > 0
    assert reports[3].budget_pauses > 0 and reports[3].preemptions > 0
    assert reports[4].blocks > 0 and reports[4].failed_attempts > 0


def test_every_chunk_renders_and_the_makespan_is_never_below_its_lower_bound():
    sequences = workload.studio(chunks=400, shows=3, sequences_per_show=2, seed=7)
    report = Simulator(workload.gpu_farm(12), sequences).run()
    chunks = sum(len(s.chunks) for s in sequences)
    assert report.dispatches == chunks and report.failed_attempts == 0
    assert report.lower_bound <= report.makespan
    assert 0 < report.utilisation <= 1
    assert sum(report.show_seconds.values()) == pytest.approx(report.utilisation * 12 * report.makespan)


def test_cost_is_each_attempts_node_seconds_at_its_class_rate():
    sequences = workload.studio(chunks=60, shows=1, sequences_per_show=1, seed=2, uhd_show=False)
    farm = workload.gpu_farm(1, mix=(1.0, 0.0, 0.0, 0.0))  # one h100
    report = Simulator(farm, sequences).run()
    work = sum(sum(s.work) for s in sequences)
    assert report.makespan == pytest.approx(work)
    assert report.cost_usd == pytest.approx(work * 3.93 / 3600)


def test_shotfarm_finishes_a_heavy_tailed_mixed_class_workload_sooner_than_fifo():
    sequences = workload.studio(chunks=2000, shows=4, sequences_per_show=3, seed=2)
    farm = workload.gpu_farm(40)
    ours = Simulator(farm, sequences).run()
    fifo = Simulator(farm, sequences).run(planner=baseline.plan, name="fifo")
    assert ours.makespan < fifo.makespan
    assert ours.lower_bound == fifo.lower_bound


def test_subscribed_shows_get_their_shares_while_every_show_has_work():
    shares = {"show1": 0.5, "show2": 0.3, "show3": 0.2}
    sequences = workload.studio(chunks=3000, shows=3, sequences_per_show=2, seed=5, uhd_show=False)
    farm = workload.with_shares(workload.gpu_farm(60), shares)
    report = Simulator(farm, sequences).run()
    for show, share in shares.items():
        assert report.saturated_share[show] == pytest.approx(share, abs=0.05)
    fifo = Simulator(farm, sequences).run(planner=baseline.plan, name="fifo")
    assert fifo.saturated_share.get("show3", 0.0) < 0.1  # first come, first served


def test_the_report_prints_the_numbers_people_compare():
    report = Simulator(workload.gpu_farm(4), workload.studio(chunks=40, shows=2, sequences_per_show=1)).run()
    text = "\n".join(report.lines())
    for word in ("makespan", "lower bound", "ratio", "utilisation", "cost", "GPU-seconds", "first shot"):
        assert word in text
