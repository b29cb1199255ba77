"""What the coordinator sends to nodes, built from the state: pure functions.

Each order carries everything its node needs (setups, store keys, digests,
grades), so a node never reads the event log; building orders never calls
a node, so these are tested without Ray.
"""

from __future__ import annotations

from nodes.protocol import (
    CheckOrder,
    ChunkOrder,
    CutRow,
    DeliverOrder,
    SegmentOrder,
    SheetTile,
    SourceFrame,
    SourceLayer,
    StoredFrame,
    TakeFrames,
    TakesOrder,
)
from orchestrator.core import layout
from orchestrator.core.commands import Dispatch
from orchestrator.core.events import FrameRecord
from orchestrator.core.state import SequenceState
from orchestrator.projections.takes import take_rows
from pipelines.chunking import ChunkPlan
from pipelines.master.conform import MasterFrame, conform
from pipelines.master.delivered_cut import DeliveredCut, DeliveredShot, media_runs
from pipelines.master.segments import segment_frames
from pipelines.spec.sequence import Sequence
from pipelines.spec.setup import ShotSetup, shot_setup
from pipelines.spec.sources import STORE_PREFIX


def master_prefix(spec: Sequence) -> str:
    return layout.master_prefix(spec.show, spec.sequence)


def _stored(record: FrameRecord) -> StoredFrame:
    return StoredFrame(frame=record.frame, key=record.key, digest=record.digest)


def _rendered_frames(seq: SequenceState) -> dict[tuple[str, int], StoredFrame]:
    """(shot, frame) -> the frame the log accepted, for every rendered chunk (of a shot's takes, the chosen one's)."""
    return {
        (chunk.plan.shot, f.frame): _stored(f)
        for chunk in seq.chunks.values()
        if not chunk.plan.take or seq.chunk_holding(chunk.plan.shot, chunk.plan.frames.first) is chunk
        for f in chunk.frames
    }


_SETUPS: dict[tuple[int, str, str], tuple[Sequence, ShotSetup]] = {}
"""(id of a spec, shot, engine) -> (that spec, its shot setup): a spec is immutable (a change makes a new one),
so the chunks of a shot share one setup object, built once, and a call carrying several pickles it once."""


def _setup(spec: Sequence, shot: str, engine: str) -> ShotSetup:
    key = (id(spec), shot, engine)
    known = _SETUPS.get(key)
    if known is not None and known[0] is spec:
        return known[1]
    if len(_SETUPS) >= 256:
        _SETUPS.clear()  # specs replaced since (a fix, a re-render) are let go
    setup = _SETUPS[key] = (spec, shot_setup(spec, shot, engine))
    return setup[1]


def chunk_order(seq: SequenceState, command: Dispatch, engine: str) -> ChunkOrder:
    chunk = seq.chunks[command.chunk_id]
    spec = seq.spec
    setup = _generated(seq, chunk.plan, _setup(spec, chunk.plan.shot, engine))
    return ChunkOrder(
        sequence_id=seq.sequence_id,
        chunk_id=chunk.plan.chunk_id,
        attempt=command.attempt,
        setup=setup,
        first=chunk.plan.frames.first,
        last=chunk.plan.frames.last,
        key_prefix=layout.attempt_prefix(spec.show, spec.sequence, chunk.plan.shot, chunk.version, command.attempt, chunk.plan.take),
        fps=spec.fps,
        start_timecode=spec.start_timecode,
        timeline_first=spec.timeline[0].frames.first,
        engine=setup.engine,
    )


def _generated(seq: SequenceState, plan: ChunkPlan, setup: ShotSetup) -> ShotSetup:
    """A generated shot's setup as this chunk generates it: its take's seed, its neighbours' frames.

    `image: previous` becomes the neighbour's frame as the log accepted it
    (store:KEY@SHA256, so the node checks the bytes); the shot was held until
    that frame existed (core.state).
    """
    options = dict(setup.options)
    if plan.take:
        options["seed"] = (int(options.get("seed", setup.seed)) + plan.take - 1) % 2**63  # type: ignore[call-overload]
    for option, record in (seq.conditioning_frames(plan.shot) or {}).items():
        options[option] = f"{STORE_PREFIX}{record.key}@{record.digest}"
    return setup if options == setup.options else setup.model_copy(update={"options": options})


def takes_order(seq: SequenceState, shot: str) -> TakesOrder:
    """Every rendered take of `shot` with the neighbour frames it is judged against (SequenceState.take_neighbours)."""
    spec = seq.spec
    cut = spec.shot(shot).frames
    takes = []
    for chunk in seq.take_chunks(shot):
        frames = {f.frame: f for f in chunk.frames}
        takes.append(TakeFrames(take=chunk.plan.take, chunk_id=chunk.plan.chunk_id, first=_stored(frames[cut.first]), last=_stored(frames[cut.last])))
    left, right = seq.take_neighbours(shot)
    left_record = seq.frame_record(left, spec.shot(left).frames.last) if left else None
    right_record = seq.frame_record(right, spec.shot(right).frames.first) if right else None
    return TakesOrder(
        sequence_id=seq.sequence_id,
        shot=shot,
        version=seq.versions[shot],
        fingerprint=seq.take_fingerprint(shot),
        spec=spec.model_dump(mode="json"),
        takes=tuple(takes),
        left=left,
        left_frame=_stored(left_record) if left_record else None,
        right=right,
        right_frame=_stored(right_record) if right_record else None,
    )


def check_order(seq: SequenceState, name: str) -> CheckOrder:
    cut = seq.cuts[name]
    left, right = seq.boundary(cut)
    left_record, right_record = seq.frame_record(cut.left, left), seq.frame_record(cut.right, right)
    return CheckOrder(
        sequence_id=seq.sequence_id,
        cut=name,
        left=cut.left,
        right=cut.right,
        fingerprint=seq.cut_fingerprint(cut),
        spec=seq.spec.model_dump(mode="json"),
        left_frame=_stored(left_record) if left_record else None,
        right_frame=_stored(right_record) if right_record else None,
        report_prefix=layout.continuity_prefix(seq.spec.show, seq.spec.sequence),
        left_neighbour=_neighbour(seq, cut.left, left, -1),
        right_neighbour=_neighbour(seq, cut.right, right, +1),
    )


def _neighbour(seq: SequenceState, shot: str, frame: int, away: int) -> StoredFrame | None:
    """A rendered frame beside a boundary frame: the one further from the cut (`away`), else the other.

    Only frames of the boundary frame's own chunk count, so the choice is the
    same whenever the cut is checked, not a matter of which chunk finished first.
    """
    chunk = seq.chunk_holding(shot, frame)
    if chunk is None:
        return None
    for f in (frame + away, frame - away):
        record = seq.frame_record(shot, f) if chunk.plan.frames.first <= f <= chunk.plan.frames.last else None
        if record is not None:
            return _stored(record)
    return None


def segment_order(seq: SequenceState, name: str, burn_in: bool = False, exact: bool = False) -> SegmentOrder:
    """The segment's frames, and what the deliverables' encodes need to start on them (as deliver_order gives)."""
    spec = seq.spec
    segment = next(s for s in seq.segment_plan if s.name == name)
    frames = _rendered_frames(seq)
    conformed = segment_frames(spec, segment)
    master = tuple(
        SourceFrame(
            frame=m.frame,
            layers=tuple(
                SourceLayer(shot=x.shot, weight=x.weight, source=frames[x.shot, x.frame], grades=seq.grades(x.shot))
                for x in m.layers
            ),
        )
        for m in conformed
    )
    return SegmentOrder(
        sequence_id=seq.sequence_id,
        segment=name,
        fingerprint=seq.fingerprint(segment),
        frames=master,
        resolution=spec.resolution,
        key_prefix=master_prefix(spec),
        fps=spec.fps,
        start_timecode=spec.start_timecode,
        timeline_first=spec.timeline[0].frames.first,
        timeline=tuple(s.name for s in seq.segment_plan),
        labels=tuple(_label(m) for m in conformed) if burn_in else (),
        exact=exact,
    )


def _label(frame: MasterFrame) -> str:
    """A master frame's burn-in text on the review proxy."""
    return f"{frame.shot or 'gap'} {frame.frame}"


def deliver_order(seq: SequenceState, burn_in: bool, exact: bool = False) -> DeliverOrder:
    spec = seq.spec
    frames = tuple(_stored(f) for seg in seq.segment_plan for f in seq.segments[seg.name].frames)
    by_frame = _rendered_frames(seq)
    sheet = tuple(
        SheetTile(
            shot=shot.name,
            label=f"{shot.name}  {shot.frames.first}-{shot.frames.last}",
            source=by_frame[shot.name, (shot.frames.first + shot.frames.last) // 2],
        )
        for shot in spec.timeline
    )
    return DeliverOrder(
        sequence_id=seq.sequence_id,
        title=f"{spec.show} / {spec.sequence}",
        frames=frames,
        key_prefix=master_prefix(spec),
        fps=spec.fps,
        sheet=sheet,
        cuts=tuple(CutRow(cut=c.name, status=c.status.value, reports=c.reports) for c in seq.cuts.values() if c.reports),
        takes=tuple(take_rows(seq)),
        labels=tuple(_label(m) for m in conform(spec)) if burn_in else (),
        resolution=spec.resolution,
        exact=exact,
        conform=delivered_cut(seq),
    )


def delivered_cut(seq: SequenceState) -> DeliveredCut:
    """Every shot as mastered: its cut, dissolve, grades and the frames the log accepted (handles included)."""
    spec = seq.spec
    keys: dict[str, dict[int, str]] = {}
    for (shot, frame), stored in _rendered_frames(seq).items():
        keys.setdefault(shot, {})[frame] = stored.key
    shots = tuple(
        DeliveredShot(
            name=s.name, frames=s.frames, dissolve=s.dissolve, grades=seq.grades(s.name), media=media_runs(keys.get(s.name, {}))
        )
        for s in spec.timeline
    )
    return DeliveredCut(name=f"{spec.show} / {spec.sequence}", fps=spec.fps, start_timecode=spec.start_timecode, shots=shots)
