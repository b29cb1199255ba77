"""Synthetic farms and workloads for the simulator and the benchmarks.

Sequences are real specs, chunked by pipelines.chunking, so the simulator
feeds the policy exactly what a submission would. Heavy tails come from
shots whose samples follow a Pareto law (a frame heavier than the chunk
target becomes a chunk of its own) and from a hidden per-chunk complexity
the runtime model cannot see. Deterministic for a seed; no clock, no I/O.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from orchestrator.scheduling.farm import FarmConfig, NodeClass, Subscription
from orchestrator.scheduling.ids import sequence_id
from pipelines.chunking import ChunkPlan, chunk_shot
from pipelines.spec.sequence import Sequence


@dataclass(frozen=True)
class SimSequence:
    sequence: Sequence
    chunks: tuple[ChunkPlan, ...]
    work: tuple[float, ...]
    """True seconds of each chunk on a speed-1.0 node (the simulator's ground truth)."""
    submit_at: float = 0.0

    @property
    def sequence_id(self) -> str:
        return sequence_id(self.sequence.show, self.sequence.sequence)


# Speeds relative to an H100 for path tracing; prices as the default price book.
FOUR_CLASSES = (
    ("h100", 1.0, 3.93, None),
    ("l40s", 0.6, 1.86, None),
    ("a10g", 0.35, 1.01, 3840 * 1600),  # 24 GB: no room for a 4K frame's buffers
    ("t4", 0.2, 0.53, 3840 * 1600),
)


def gpu_farm(
    gpus: int = 1000, mix: tuple[float, ...] = (0.2, 0.3, 0.35, 0.15), slots: int = 1, **extra: object
) -> FarmConfig:
    """A farm of `gpus` nodes in the four classes above; one slot each, as a simulated node
    needs no second chunk waiting to hide the dispatch round trip."""
    counts = [int(gpus * m) for m in mix]
    counts[0] += gpus - sum(counts)
    classes = tuple(
        NodeClass(
            name=n, count=c, resource=f"gpu_class_{n}", gpus=1, speed=s, usd_per_hour=p, max_pixels=mp, slots=slots
        )
        for (n, s, p, mp), c in zip(FOUR_CLASSES, counts)
    )
    return FarmConfig(classes=classes, **extra)


def with_shares(farm: FarmConfig, shares: dict[str, float], burst: float = 1.0) -> FarmConfig:
    subs = tuple(Subscription(show=s, share=f, burst=max(f, burst)) for s, f in shares.items())
    return farm.model_copy(update={"subscriptions": subs})


def sequence_spec(show: str, name: str, shots: list[tuple[int, int]], resolution=(2048, 858), priority=50, **extra):
    """A minimal valid sequence: `shots` is (frames, samples) in timeline order."""
    frame = 1001
    specs = []
    for i, (frames, samples) in enumerate(shots):
        specs.append(
            {
                "name": f"sh{(i + 1) * 10:04d}",
                "scene": "set",
                "frames": {"first": frame, "last": frame + frames - 1},
                "samples": samples,
                "camera": {"keys": [{"frame": 0, "position": [0, 1, 6], "look_at": [0, 1, 0]}]},
            }
        )
        frame += frames
    return Sequence.model_validate(
        {
            "show": show,
            "sequence": name,
            "resolution": list(resolution),
            "samples": 64,
            "bounces": 4,
            "priority": priority,
            "scenes": {"set": {"materials": {"m": {"type": "diffuse"}}, "objects": [{"type": "plane", "name": "floor", "material": "m"}]}},
            "shots": specs,
            **extra,
        }
    )


def simulated(
    seq: Sequence, rng: random.Random, chunk_frames: int = 8, seconds_per_unit: float = 2e-8, submit_at: float = 0.0
) -> SimSequence:
    width, height = seq.resolution
    target = float(width * height * seq.samples * seq.bounces) * chunk_frames
    chunks = [c for shot in seq.timeline for c in chunk_shot(seq, shot, target)]
    # Hidden complexity: what cost units do not capture (geometry, shading), per chunk.
    work = tuple(c.cost * seconds_per_unit * rng.lognormvariate(0.0, 0.3) for c in chunks)
    return SimSequence(seq, tuple(chunks), work, submit_at)


def studio(
    chunks: int = 100_000,
    shows: int = 4,
    sequences_per_show: int = 5,
    seed: int = 1,
    frames_per_shot: tuple[int, int] = (24, 160),
    priorities: tuple[int, ...] = (50,),
    budget_usd: float | None = None,
    uhd_show: bool = True,
) -> list[SimSequence]:
    """About `chunks` chunks from several shows; one show renders 4K (a10g and t4 cannot hold it)."""
    rng = random.Random(seed)
    per_sequence = max(1, chunks // (shows * sequences_per_show))
    out = []
    for s in range(shows):
        show = f"show{s + 1}"
        resolution = (3840, 2160) if uhd_show and s == shows - 1 else (2048, 858)
        for q in range(sequences_per_show):
            shots, count = [], 0
            while count < per_sequence:
                frames = rng.randint(*frames_per_shot)
                # Artists pick powers of two; the Pareto law makes a few shots far heavier.
                samples = min(4096, 2 ** round(math.log2(64 * rng.paretovariate(1.2))))
                per_chunk = max(1, round(8 * 64 / samples))
                shots.append((frames, samples))
                count += -(-frames // per_chunk)
            extra = {"budget_usd": budget_usd} if budget_usd else {}
            spec = sequence_spec(
                show, f"sq{q + 1:03d}", shots, resolution, priority=priorities[(s + q) % len(priorities)], **extra
            )
            out.append(simulated(spec, rng))
    return out


def total_work(sequences: list[SimSequence]) -> float:
    return sum(sum(s.work) for s in sequences)
