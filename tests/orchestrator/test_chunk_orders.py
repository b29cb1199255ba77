"""Chunk orders share their shot's setup: built once per spec, pickled once per call that carries several."""

from __future__ import annotations

import pickle

from orchestrator.coordinator.orders import chunk_order
from orchestrator.core import events as ev
from orchestrator.core.commands import Dispatch
from orchestrator.core.evolve import evolve
from pipelines.color.cdl import CDL
from pipelines.spec.setup import shot_setup
from tests.builders import SID, farm, planned, pool, sequence, shot, submitted


def state_of_two_shots():
    seq = sequence(shot("sh010", 1001, 1008), shot("sh020", 1009, 1016))
    return farm(pool(), submitted(seq), planned(seq, chunk_frames=2))


def order(state, chunk_id: str):
    return chunk_order(state.sequences[SID], Dispatch(SID, chunk_id, "cpu-0", 1), "pathtracer")


def test_the_chunks_of_one_shot_carry_one_setup_object_equal_to_the_one_built_from_the_spec():
    state = state_of_two_shots()
    a, b, other = order(state, "sh010.1001-1002"), order(state, "sh010.1003-1004"), order(state, "sh020.1009-1010")
    assert a.setup is b.setup
    assert a.setup == shot_setup(state.sequences[SID].spec, "sh010", "pathtracer")
    assert other.setup.shot == "sh020" and other.setup is not a.setup
    sent = pickle.loads(pickle.dumps([a, b]))
    assert sent[0].setup == sent[1].setup == a.setup
    assert len(pickle.dumps([a, b])) < 2 * len(pickle.dumps(a)) - len(pickle.dumps(a.setup)) // 2, "the shared setup is pickled once"


def test_a_changed_spec_gives_the_setup_built_from_it():
    state = state_of_two_shots()
    before = order(state, "sh010.1001-1002").setup
    graded = evolve(state, ev.FixApplied(at=3.0, sequence_id=SID, cut="sh010>sh020", shot="sh010", grade=CDL(slope=(1.1, 1.0, 1.0))))
    after = order(graded, "sh010.1001-1002").setup
    assert graded.sequences[SID].spec is not state.sequences[SID].spec
    assert after == shot_setup(graded.sequences[SID].spec, "sh010", "pathtracer")
    assert order(state, "sh010.1001-1002").setup is before, "the old spec still gives its own"
