"""The deliver order's conform: every shot, the grade it is mastered with, and the folders the log accepted."""

from __future__ import annotations

from orchestrator.coordinator.orders import delivered_cut, segment_order
from orchestrator.core import events as ev
from orchestrator.core import layout
from orchestrator.core.evolve import evolve
from orchestrator.core.state import FarmState
from pipelines.color.cdl import CDL
from pipelines.editorial.otio import conform_otio, read_otio
from pipelines.master.conform import conform
from pipelines.master.delivered_cut import grades_ccc
from tests.builders import SID, failed, farm, planned, pool, sequence, shot, started, submitted

OWN = CDL(slope=(1.7, 1.7, 1.7))
FIX = CDL(slope=(0.6, 0.6, 0.6), saturation=0.95)
SEQ = sequence(shot("sh010", 1001, 1008, handles=1), shot("sh020", 1009, 1012, handles=1, grade=OWN.model_dump()))


def rendered(state: FarmState, chunk_id: str, attempt: int = 1) -> ev.ChunkRendered:
    """A chunk's frames under its attempt's own folder, as a render node writes them."""
    seq = state.sequences[SID]
    chunk = seq.chunks[chunk_id]
    prefix = layout.attempt_prefix("demo", "sq010", chunk.plan.shot, chunk.version, attempt)
    frames = tuple(ev.FrameRecord(frame=f, key=f"{prefix}/{f:06d}.exr", digest=f"d{f}") for f in chunk.plan.frames)
    return ev.ChunkRendered(
        at=3.0, sequence_id=SID, chunk_id=chunk_id, attempt=attempt, node_id="cpu-0", gpu_class="cpu",
        frames=frames, node_seconds=2.0, cost_usd=0.001,
    )


def rendered_farm(retry: str | None = None) -> FarmState:
    """Every chunk rendered; `retry` (a chunk id) failed once and was accepted from attempt 2."""
    state = farm(pool("cpu-0", slots=3), submitted(SEQ), planned(SEQ))
    for cid in list(state.sequences[SID].chunks):
        if cid == retry:
            state = evolve(evolve(state, started(cid)), failed(cid))
            state = evolve(state, ev.ChunkQueued(at=4, sequence_id=SID, chunk_id=cid, reason="retry"))
            state = evolve(evolve(state, started(cid, attempt=2)), rendered(state, cid, attempt=2))
        else:
            state = evolve(evolve(state, started(cid)), rendered(state, cid))
    return state


def test_every_shot_is_delivered_in_timeline_order_with_the_grade_it_arrived_with():
    cut = delivered_cut(rendered_farm().sequences[SID])
    assert [(s.name, s.frames.first, s.frames.last) for s in cut.shots] == [("sh010", 1001, 1008), ("sh020", 1009, 1012)]
    assert [s.grades for s in cut.shots] == [(), (OWN,)]
    assert cut.fps == SEQ.fps and cut.start_timecode == SEQ.start_timecode


def test_a_continuity_grade_fix_is_what_the_shot_is_delivered_with():
    state = rendered_farm()
    state = evolve(state, ev.FixApplied(at=6, sequence_id=SID, cut="sh010|sh020", shot="sh020", grade=FIX))
    cut = delivered_cut(state.sequences[SID])
    assert cut.shots[1].grades == (FIX,)
    assert b'<ColorCorrection id="sh020">' in grades_ccc(cut) and b"<Saturation>0.95</Saturation>" in grades_ccc(cut)


def test_the_accepted_frames_handles_included_are_the_shots_media():
    cut = delivered_cut(rendered_farm().sequences[SID])
    (run,) = cut.shots[1].media
    assert run.folder == "demo/sq010/shots/sh020/v1/a1"
    assert (run.frames.first, run.frames.last) == (1008, 1013)


def test_a_chunk_accepted_from_a_retry_is_media_in_that_attempts_folder():
    state = farm(pool("cpu-0", slots=3), submitted(SEQ), planned(SEQ))
    retry = next(c for c in state.sequences[SID].chunks.values() if c.plan.shot == "sh010" and 1008 in c.plan.frames)
    cut = delivered_cut(rendered_farm(retry=retry.plan.chunk_id).sequences[SID])
    folders = [run.folder.rsplit("/", 1)[1] for run in cut.shots[0].media]
    assert folders == ["a1", "a2"]
    assert cut.shots[0].media[1].frames.last == 1009


def test_a_dissolve_in_the_spec_is_a_dissolve_in_the_delivered_conform():
    dissolving = sequence(shot("sh010", 1001, 1008, handles=1), shot("sh020", 1009, 1012, handles=1, dissolve=2))
    state = farm(pool("cpu-0", slots=3), submitted(dissolving), planned(dissolving))
    for cid in list(state.sequences[SID].chunks):
        state = evolve(evolve(state, started(cid)), rendered(state, cid))
    cut = read_otio(conform_otio(delivered_cut(state.sequences[SID])), "conform.otio")
    assert [(c.name, c.record.first, c.dissolve) for c in cut.clips] == [("sh010", 0, 0), ("sh020", 8, 2)]
    assert not cut.warnings


def test_segment_orders_name_the_timeline_and_in_timeline_order_carry_the_labels_a_delivery_burns_in():
    seq = rendered_farm().sequences[SID]
    orders = [segment_order(seq, s.name, burn_in=True, exact=True) for s in seq.segment_plan]
    assert all(o.timeline == ("sh010", "sh020") and o.exact for o in orders)
    assert [len(o.labels) for o in orders] == [len(o.frames) for o in orders]
    assert [label for o in orders for label in o.labels] == [f"{m.shot or 'gap'} {m.frame}" for m in conform(seq.spec)]
    assert segment_order(seq, "sh010").labels == ()
