"""A synthetic previs movie with known cuts and dissolves, written with PyAV."""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np
import torch
import torch.nn.functional as F

WIDTH, HEIGHT = 160, 90


@dataclass(frozen=True)
class Plan:
    """Shots of `lengths` frames; `dissolves[i]` mixed frames between shot i and i+1 (0: a hard cut)."""

    lengths: tuple[int, ...]
    dissolves: tuple[int, ...]

    @property
    def cut_frames(self) -> list[int]:
        """Where each incoming shot starts, dissolves centred, as the detector reports them."""
        out, at = [], 0
        for length in self.lengths[:-1]:
            at += length
            out.append(at)
        return out


def texture(seed: int, frames: int, speed: float = 0.6) -> torch.Tensor:
    """(frames, H, W, 3) float 0-1: a smooth random picture panning slowly, the shot's own motion."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 9, 16, generator=g)
    tint = torch.rand(3, generator=g) * 0.6 + 0.2
    big = F.interpolate(coarse, size=(HEIGHT * 2, WIDTH * 2), mode="bicubic", align_corners=False)[0]
    big = (big.clamp(0, 1) * 0.7 + tint[:, None, None] * 0.3).permute(1, 2, 0)
    out = []
    for t in range(frames):
        x = int(round(t * speed))
        out.append(big[10 : 10 + HEIGHT, x : x + WIDTH])
    return torch.stack(out)


def frames(plan: Plan) -> torch.Tensor:
    """Every frame of the movie; a dissolve of D frames centred on the cut mixes (i+1)/(D+1) of the next shot."""
    shots = [texture(100 + i, n + 64) for i, n in enumerate(plan.lengths)]
    movie = torch.cat([s[32 : 32 + n] for s, n in zip(shots, plan.lengths)])
    at = 0
    for i, d in enumerate(plan.dissolves):
        at += plan.lengths[i]
        if not d:
            continue
        first = at - d // 2
        for k in range(d):
            w = (k + 1) / (d + 1)
            f = first + k
            # Both shots keep moving through the dissolve: their handles are real footage.
            left = shots[i][32 + f - (at - plan.lengths[i])]
            right = shots[i + 1][32 + f - at]
            movie[f] = (1 - w) * left + w * right
    return movie


def encode(movie: torch.Tensor, codec: str = "libx264", container: str = "mp4", fps: int = 24) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = WIDTH, HEIGHT
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "18"}
        for pixels in (movie.clamp(0, 1) * 255).round().to(torch.uint8).numpy():
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()
