"""PrevisNode: finds the cuts in a previs or reference movie and proposes shots.

The movie is read where it lies, from a path on this machine or a key in the
store; its frames never travel through Ray, only the proposal (a few numbers
per shot) comes back. Hosted as a Ray actor by `start_previs_node`; the class
itself knows nothing of Ray, so it is tested directly.

An unreadable movie raises EditorialError naming it (the caller's 4xx); it
must never be retried, and this node must never write to the store.
"""

from __future__ import annotations

import io
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import ray
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from nodes.storage import open_store
from nodes.storage.base import ObjectMissing, check_key
from pipelines.editorial.cut import EditorialCut, EditorialError
from pipelines.editorial.movie import read_movie
from pipelines.editorial.previs import DetectionSettings, Transition, detect, previs_cut


class PrevisOrder(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str | None = Field(None, description="Store key of the movie.")
    path: str | None = Field(None, description="A file on the node's machine (operators only, never from a request).")
    name: str = Field(description="What to call the movie in messages (its upload name).")
    max_frames: int = Field(20_000, ge=1)
    settings: DetectionSettings = DetectionSettings()

    @model_validator(mode="after")
    def _one_source(self) -> PrevisOrder:
        if (self.key is None) == (self.path is None):
            raise ValueError("give the movie as exactly one of key or path")
        if self.key is not None:
            check_key(self.key)
        return self


class PrevisProposal(BaseModel):
    """Shots proposed from a movie's cuts; a scene mapping turns `cut` into a sequence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    fps: Fraction
    frames: int
    width: int
    height: int
    codec: str
    transitions: tuple[Transition, ...]
    cut: EditorialCut
    seconds: float = Field(description="Time the detection took, decoding included.")


class PrevisNode:
    def __init__(self, store_url: str, threads: int = 1):
        self.store = open_store(store_url)
        torch.set_num_threads(threads)  # beside render nodes: do not take every core

    def ping(self) -> str:
        return "previs"

    def _stream(self, order: PrevisOrder) -> Any:
        if order.key is not None:
            try:
                return io.BytesIO(self.store.get(order.key))
            except ObjectMissing:
                raise EditorialError(order.name, [("", "the uploaded movie is no longer in the store")]) from None
        path = Path(order.path or "")
        if not path.is_file():
            raise EditorialError(order.name, [("", f"{path}: no such file")])
        return path.open("rb")

    def propose(self, order: PrevisOrder) -> PrevisProposal:
        started = time.monotonic()
        with self._stream(order) as stream:
            movie = read_movie(stream, order.name, order.max_frames)
        transitions = detect(movie.frames, order.settings)
        frames = int(movie.frames.shape[0])
        return PrevisProposal(
            name=order.name,
            fps=Fraction(movie.fps),
            frames=frames,
            width=movie.width,
            height=movie.height,
            codec=movie.codec,
            transitions=tuple(transitions),
            cut=previs_cut(transitions, frames, movie.fps, order.name),
            seconds=time.monotonic() - started,
        )


def start_previs_node(store_url: str, timeout: float) -> Any:
    """The actor, started and answering (bounded wait). No reserved CPU, like the check node:
    a detection is seconds of work and must not wait behind render nodes holding every core."""
    handle = ray.remote(PrevisNode).options(num_cpus=0, max_restarts=-1).remote(store_url)
    ray.get(handle.ping.remote(), timeout=timeout)
    return handle
