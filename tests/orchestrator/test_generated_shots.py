"""Generated shots in the core: held for a neighbour's frame, generated as takes, one take chosen.

A shot generated from its neighbour's frame (`image: previous`) is planned
with the others but held until that frame is rendered, with the reason
shown; a new version of the neighbour generates it again. A shot asked for
as N takes renders N chunks with N seeds; once they and the neighbours'
boundary frames exist the farm asks for a choice, and only the chosen take's
frames are the shot's.
"""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.api.views import cost_view, shot_view
from orchestrator.config.cost import PriceBook
from orchestrator.coordinator.orders import chunk_order, takes_order
from orchestrator.core import events as ev
from orchestrator.core.commands import CheckCut, ChooseTake, Dispatch, Preempt, Regenerate
from orchestrator.core.decide import decide
from orchestrator.core.evolve import evolve
from orchestrator.core.state import FarmState
from orchestrator.projections.metrics import FarmMetrics
from pipelines.continuity.findings import TakeScore
from pipelines.spec.errors import SpecError
from tests.builders import SID, farm, planned, pool, rendered, sequence, shot, started, submitted


def generated(name: str, first: int, last: int, **options: Any) -> dict[str, Any]:
    return {
        "name": name,
        "scene": "set",
        "frames": {"first": first, "last": last},
        "engine": {"name": "diffusion", "options": {"model": "models/wan", "prompt": "a lamp at dusk", "width": 32, "height": 32, **options}},
    }


def step(state: FarmState, event: ev.Event) -> tuple[FarmState, list]:
    state = evolve(state, event)
    return state, decide(state, event)


def render_all(state: FarmState, *chunk_ids: str) -> FarmState:
    for cid in chunk_ids:
        state = evolve(state, started(cid, attempt=state.sequences[SID].chunks[cid].attempt + 1))
        state = evolve(state, rendered(state, cid, attempt=state.sequences[SID].chunks[cid].attempt))
    return state


CONDITIONED = sequence(shot("sh010", 1001, 1004), generated("sh020", 1005, 1008, image="previous"))


def test_a_shot_generated_from_the_previous_shots_frame_waits_for_it_with_the_reason_shown():
    state = farm(pool("cpu-0", slots=4), submitted(CONDITIONED))
    state, commands = step(state, planned(CONDITIONED))
    seq = state.sequences[SID]
    assert [c.chunk_id for c in commands if isinstance(c, Dispatch)] == ["sh010.1001-1004"]
    assert "sh020" in seq.held and "sh020.1005-1008" not in seq.chunks
    assert seq.waiting_for_neighbours() == {"sh020": "generated from sh010's frame 1004, not rendered yet"}
    assert seq.frames_total == 8  # the held shot's frames are still part of the work
    assert not seq.all_rendered


def test_the_neighbours_frame_releases_the_shot_and_its_order_reads_that_frame_by_digest():
    state = farm(pool("cpu-0", slots=4), submitted(CONDITIONED), planned(CONDITIONED))
    state = evolve(state, started("sh010.1001-1004"))
    state, commands = step(state, rendered(state, "sh010.1001-1004"))
    assert Dispatch(SID, "sh020.1005-1008", "cpu-0", 1) in commands
    seq = state.sequences[SID]
    assert seq.held == {}
    order = chunk_order(seq, Dispatch(SID, "sh020.1005-1008", "cpu-0", 1), "pathtracer")
    assert order.setup.options["image"] == "store:k/001004.exr@d1004"


def test_a_new_version_of_the_neighbour_generates_the_shot_again_from_the_new_frame():
    state = farm(pool("cpu-0", slots=4), submitted(CONDITIONED), planned(CONDITIONED))
    state = render_all(state, "sh010.1001-1004", "sh020.1005-1008")
    requeue = ev.ShotRequeued(
        at=9.0, sequence_id=SID, cut=None, shot="sh010", patch={}, version=2,
        shot_spec=CONDITIONED.shot("sh010").model_dump(mode="json"), chunks=(state.sequences[SID].chunks["sh010.1001-1004"].plan,),
    )  # fmt: skip
    state, commands = step(state, requeue)
    assert commands[0] == Regenerate(SID, "sh020", "generated from a frame of sh010, which renders again as version 2")
    again = ev.ShotRequeued(
        at=9.5, sequence_id=SID, cut=None, shot="sh020", patch={}, version=2, reason=commands[0].reason,
        shot_spec=CONDITIONED.shot("sh020").model_dump(mode="json"), chunks=(state.sequences[SID].chunks["sh020.1005-1008"].plan,),
    )  # fmt: skip
    state, commands = step(state, again)
    seq = state.sequences[SID]
    assert "sh020" in seq.held and not any(isinstance(c, Dispatch) and c.chunk_id.startswith("sh020") for c in commands)
    state = render_all(state, "sh010.1001-1004")
    seq = state.sequences[SID]
    assert seq.held == {} and seq.chunks["sh020.1005-1008"].version == 2
    # The new version's attempt numbers carry on from the old one's: a late answer is fenced off.
    assert seq.chunks["sh020.1005-1008"].attempt == 1


def test_a_held_shot_is_not_regenerated_twice():
    state = farm(pool("cpu-0", slots=4), submitted(CONDITIONED), planned(CONDITIONED))
    requeue = ev.ShotRequeued(
        at=9.0, sequence_id=SID, cut=None, shot="sh010", patch={}, version=2,
        shot_spec=CONDITIONED.shot("sh010").model_dump(mode="json"), chunks=(state.sequences[SID].chunks["sh010.1001-1004"].plan,),
    )  # fmt: skip
    _, commands = step(state, requeue)
    assert not any(isinstance(c, Regenerate) for c in commands)  # still waiting: it will read the new frame


TAKES = sequence(shot("sh010", 1001, 1004), generated("sh020", 1005, 1008, takes=3, seed=40), shot("sh030", 1009, 1012))
TAKE_IDS = ["sh020.t1.1005-1008", "sh020.t2.1005-1008", "sh020.t3.1005-1008"]


def test_takes_are_chunks_of_their_own_with_their_own_seed_and_folder():
    state = farm(pool("cpu-0", slots=8), submitted(TAKES), planned(TAKES))
    seq = state.sequences[SID]
    assert [c for c in seq.chunks if c.startswith("sh020")] == TAKE_IDS
    orders = [chunk_order(seq, Dispatch(SID, cid, "cpu-0", 1), "pathtracer") for cid in TAKE_IDS]
    assert [o.setup.options["seed"] for o in orders] == [40, 41, 42]
    assert [o.key_prefix.rsplit("/", 3)[1:] for o in orders] == [["v1", "t1", "a1"], ["v1", "t2", "a1"], ["v1", "t3", "a1"]]


def test_a_take_is_chosen_once_every_take_and_both_neighbours_boundary_frames_exist():
    state = farm(pool("cpu-0", slots=8), submitted(TAKES), planned(TAKES))
    state = render_all(state, "sh010.1001-1004", *TAKE_IDS[:2])
    assert state.sequences[SID].takes_to_choose() == []
    state = render_all(state, TAKE_IDS[2])
    assert state.sequences[SID].takes_to_choose() == []  # sh030's first frame is still missing
    state = evolve(state, started("sh030.1009-1012"))
    state, commands = step(state, rendered(state, "sh030.1009-1012"))
    assert ChooseTake(SID, "sh020") in commands
    seq = state.sequences[SID]
    assert seq.frame_record("sh020", 1005) is None  # no take is the shot's until one is chosen
    assert not any(isinstance(c, CheckCut) for c in commands)
    order = takes_order(seq, "sh020")
    assert [t.take for t in order.takes] == [1, 2, 3]
    assert (order.left, order.left_frame.frame, order.right, order.right_frame.frame) == ("sh010", 1004, "sh030", 1009)


def chosen(state: FarmState, take: int) -> ev.TakeChosen:
    seq = state.sequences[SID]
    scores = tuple(TakeScore(take=k, chunk_id=TAKE_IDS[k - 1], score=1.0 if k == take else 5.0) for k in (1, 2, 3))
    return ev.TakeChosen(at=8.0, sequence_id=SID, shot="sh020", version=1, take=take, fingerprint=seq.take_fingerprint("sh020"), scores=scores, reason="r")


def test_the_chosen_takes_frames_are_the_shots_and_its_cuts_are_checked():
    state = farm(pool("cpu-0", slots=8), submitted(TAKES), planned(TAKES))
    state = render_all(state, "sh010.1001-1004", *TAKE_IDS, "sh030.1009-1012")
    state, commands = step(state, chosen(state, 2))
    seq = state.sequences[SID]
    assert seq.chunk_holding("sh020", 1006).plan.chunk_id == "sh020.t2.1005-1008"
    assert seq.shot_rendered("sh020")
    # Cuts settle left to right: sh020>sh030 follows the verdict on sh010>sh020.
    assert [c for c in commands if isinstance(c, CheckCut)] == [CheckCut(SID, "sh010>sh020")]


def test_a_choice_judged_against_an_old_version_of_the_shot_before_is_ignored():
    state = farm(pool("cpu-0", slots=8), submitted(TAKES), planned(TAKES))
    state = render_all(state, "sh010.1001-1004", *TAKE_IDS, "sh030.1009-1012")
    stale = chosen(state, 2)
    requeue = ev.ShotRequeued(
        at=9.0, sequence_id=SID, cut=None, shot="sh010", patch={}, version=2,
        shot_spec=TAKES.shot("sh010").model_dump(mode="json"), chunks=(state.sequences[SID].chunks["sh010.1001-1004"].plan,),
    )  # fmt: skip
    state = evolve(state, requeue)
    assert evolve(state, stale) is state
    state = evolve(state, started("sh010.1001-1004", attempt=2))
    state, commands = step(state, rendered(state, "sh010.1001-1004", attempt=2))
    assert ChooseTake(SID, "sh020") in commands  # judged again against sh010's new frame


def test_the_old_versions_attempts_waiting_at_a_node_are_taken_back_on_a_new_version():
    seq = sequence(shot("sh010", 1001, 1012))
    state = farm(pool("cpu-0", slots=3), submitted(seq), planned(seq))
    for cid in ["sh010.1001-1004", "sh010.1005-1008", "sh010.1009-1012"]:
        state = evolve(state, started(cid))
    requeue = ev.ShotRequeued(
        at=9.0, sequence_id=SID, cut=None, shot="sh010", patch={}, version=2,
        shot_spec=seq.shot("sh010").model_dump(mode="json"), chunks=tuple(c.plan for c in state.sequences[SID].chunks.values()),
    )  # fmt: skip
    state, commands = step(state, requeue)
    taken = [(c.chunk_id, c.attempt) for c in commands if isinstance(c, Preempt)]
    # The first in the node's queue is rendering and finishes; the two behind it never start.
    assert taken == [("sh010.1005-1008", 1), ("sh010.1009-1012", 1)]


@pytest.mark.parametrize(
    ("shots", "message"),
    [
        ((generated("sh010", 1001, 1004, image="previous"), shot("sh020", 1005, 1008)), "opens the sequence"),
        ((shot("sh010", 1001, 1004), generated("sh020", 1005, 1008, last_image="next")), "ends the sequence"),
        (
            (generated("sh010", 1001, 1004, last_image="next"), generated("sh020", 1005, 1008, image="previous")),
            "each would wait for the other",
        ),
        ((shot("sh010", 1001, 1004), generated("sh020", 1005, 1008, takes=17)), "takes"),
        ((shot("sh010", 1001, 1004), generated("sh020", 1005, 1008, image="next")), "engine.options.image"),
    ],
)
def test_neighbour_conditioning_and_takes_that_cannot_be_generated_are_refused_naming_the_shot(shots, message):
    with pytest.raises(SpecError) as e:
        sequence(*shots)
    assert message in str(e.value)


def test_the_api_shows_why_a_held_shot_waits_and_every_takes_score_and_cost():
    held = farm(pool(), submitted(CONDITIONED), planned(CONDITIONED)).sequences[SID]
    view = shot_view(held, "sh020", retired=0.0)
    assert (view.status, view.waiting, view.frames_total) == ("waiting", "generated from sh010's frame 1004, not rendered yet", 4)

    state = farm(pool("cpu-0", slots=8), submitted(TAKES), planned(TAKES))
    state = render_all(state, "sh010.1001-1004", *TAKE_IDS, "sh030.1009-1012")
    seq = evolve(state, chosen(state, 2)).sequences[SID]
    shot = shot_view(seq, "sh020", retired=0.0)
    assert [(t.take, t.seed, t.accepted, t.cost_usd) for t in shot.takes] == [(1, 40, False, 0.001), (2, 41, True, 0.001), (3, 42, False, 0.001)]
    assert shot.usd_per_second == pytest.approx(0.003 / (4 / 24))  # every take paid for by the seconds kept
    cost = cost_view(seq, {}, {})
    assert cost.rejected_takes_usd == pytest.approx(0.002)
    assert cost.usd_per_second == pytest.approx(seq.cost_usd / (12 / 24))


def test_prometheus_counts_takes_and_their_cost_by_outcome():
    metrics = FarmMetrics(PriceBook())
    state = FarmState()
    events = [pool("cpu-0", slots=8), submitted(TAKES), planned(TAKES)]
    for e in events:
        state = evolve(state, e)
        metrics.fold(e, state)
    for cid in ["sh010.1001-1004", *TAKE_IDS, "sh030.1009-1012"]:
        for e in (started(cid),):
            state = evolve(state, e)
            metrics.fold(e, state)
        e = rendered(state, cid)
        state = evolve(state, e)
        metrics.fold(e, state)
    e = chosen(state, 2)
    state = evolve(state, e)
    metrics.fold(e, state)
    value = metrics.registry.get_sample_value
    labels = {"show": "demo", "sequence": "sq010"}
    assert value("shotfarm_takes_total", labels | {"outcome": "accepted"}) == 1
    assert value("shotfarm_takes_total", labels | {"outcome": "rejected"}) == 2
    assert value("shotfarm_take_cost_usd_total", labels | {"outcome": "rejected"}) == pytest.approx(0.002)
    assert value("shotfarm_cost_per_picture_second_usd", labels) == pytest.approx(state.sequences[SID].cost_usd / 0.5)
