"""Small specs and event streams that tests build on."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from orchestrator.core import events as ev
from orchestrator.core.evolve import evolve, replay
from orchestrator.core.state import FarmState, Policy
from orchestrator.scheduling.farm import NodeClass
from pipelines.chunking import plan_chunks
from pipelines.spec.loading import parse_sequence
from pipelines.spec.sequence import Sequence

SID = "demo:sq010"

# The two GPU classes the session's Ray fakes with custom resources (tests/conftest.py).
H100 = NodeClass(name="h100", count=1, resource="gpu_class_h100", cpus=0.5, speed=1.0, usd_per_hour=3.93)
L40S = NodeClass(name="l40s", count=1, resource="gpu_class_l40s", cpus=0.5, speed=0.6, usd_per_hour=1.86)


def shot(name: str, first: int, last: int, handles: int = 0, angle: float = 0.0, **extra: Any) -> dict[str, Any]:
    """A shot looking at the orb from `angle` degrees around it (0 is from +Z)."""
    a = math.radians(angle)
    position = [round(6 * math.sin(a), 4), 1.2, round(6 * math.cos(a), 4)]
    return {
        "name": name,
        "scene": "set",
        "frames": {"first": first, "last": last},
        "handles": handles,
        "camera": {"keys": [{"frame": 0, "position": position, "look_at": [0, 1, 0], "fov": 35}]},
        **extra,
    }


def spec(*shots: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "show": "demo",
        "sequence": "sq010",
        "resolution": [32, 18],
        "samples": 2,
        "bounces": 2,
        "scenes": {
            "set": {
                "materials": {
                    "grey": {"type": "diffuse", "albedo": [0.5, 0.5, 0.5]},
                    "lamp": {"type": "emissive", "color": [1, 0.8, 0.6], "intensity": 6},
                },
                "objects": [
                    {"type": "plane", "name": "ground", "material": "grey"},
                    {"type": "sphere", "name": "orb", "center": [0, 1, 0], "radius": 1, "material": "lamp"},
                ],
                "lights": [{"type": "sky", "intensity": 0.5}],
                "subject": "orb",
            }
        },
        "shots": list(shots) or [shot("sh010", 1001, 1008), shot("sh020", 1009, 1012)],
        **extra,
    }


def sequence(*shots: dict[str, Any], **extra: Any) -> Sequence:
    return parse_sequence(spec(*shots, **extra))


def submitted(seq: Sequence | None = None, at: float = 0.0) -> ev.SequenceSubmitted:
    seq = seq or sequence()
    return ev.SequenceSubmitted(at=at, sequence_id=SID, spec=seq.model_dump(mode="json"), spec_digest="d")


def planned(seq: Sequence | None = None, chunk_frames: int = 4) -> ev.ShotsPlanned:
    seq = seq or sequence()
    return ev.ShotsPlanned(
        at=1.0,
        sequence_id=SID,
        versions={s.name: 1 for s in seq.shots},
        chunks=tuple(plan_chunks(seq, chunk_frames)),
    )


def pool(*names: str, slots: int = 1) -> ev.PoolStarted:
    nodes = tuple(ev.NodeInfo(node_id=n, gpu_class="cpu", slots=slots) for n in names or ("cpu-0",))
    return ev.PoolStarted(at=0.5, sequence_id=ev.FARM, nodes=nodes)


def started(chunk_id: str, node: str = "cpu-0", attempt: int = 1) -> ev.ChunkStarted:
    return ev.ChunkStarted(at=2.0, sequence_id=SID, chunk_id=chunk_id, attempt=attempt, node_id=node, gpu_class="cpu")


def rendered(state: FarmState, chunk_id: str, attempt: int = 1, node: str = "cpu-0") -> ev.ChunkRendered:
    plan = state.sequences[SID].chunks[chunk_id].plan
    frames = tuple(ev.FrameRecord(frame=f, key=f"k/{f:06d}.exr", digest=f"d{f}") for f in plan.frames)
    return ev.ChunkRendered(
        at=3.0,
        sequence_id=SID,
        chunk_id=chunk_id,
        attempt=attempt,
        node_id=node,
        gpu_class="cpu",
        frames=frames,
        node_seconds=2.0,
        cost_usd=0.001,
    )


def failed(chunk_id: str, attempt: int = 1, retryable: bool = True, node: str = "cpu-0") -> ev.ChunkFailed:
    return ev.ChunkFailed(
        at=3.0, sequence_id=SID, chunk_id=chunk_id, attempt=attempt, node_id=node, error="boom", retryable=retryable
    )


def farm(*events: ev.Event, policy: Policy | None = None) -> FarmState:
    return replay(list(events), FarmState(policy=policy or Policy()))


def checked(state: FarmState, cut: str, findings: tuple = (), report_key: str | None = None) -> ev.CutChecked:
    seq = state.sequences[SID]
    return ev.CutChecked(
        at=5.0,
        sequence_id=SID,
        cut=cut,
        fingerprint=seq.cut_fingerprint(seq.cuts[cut]),
        findings=findings,
        report_key=report_key,
    )


def accepted_renders(events: list[ev.Event]) -> list[ev.ChunkRendered]:
    """The renders the log's state accounts for, in order: a superseded attempt's result is fenced off."""
    state, accepted = FarmState(), []
    for event in events:
        seq = state.sequences.get(event.sequence_id)
        before = seq.chunks.get(event.chunk_id) if seq is not None and isinstance(event, ev.ChunkRendered) else None
        state = evolve(state, event)
        if isinstance(event, ev.ChunkRendered):
            after = state.sequences[event.sequence_id].chunks.get(event.chunk_id)
            # A fenced result (a superseded attempt) leaves its chunk as it was; an accepted one
            # records its frames, whatever the render cost (a class with no price costs nothing).
            if after is not before and after is not None and after.frames == event.frames:
                accepted.append(event)
    return accepted


def with_value(tree: Any, path: tuple, value: Any) -> Any:
    """A deep copy of a JSON-like tree with `value` put at `path` (a key or index per level)."""
    tree = copy.deepcopy(tree)
    where = tree
    for key in path[:-1]:
        where = where[key]
    where[path[-1]] = value
    return tree


def last_document(stdout: str) -> Any:
    """The last JSON object a child process printed: Ray's own log lines may land on its stdout after it."""
    return next(json.loads(line) for line in reversed(stdout.strip().splitlines()) if line.startswith("{"))
