"""RenderNode: a long-lived worker that owns one CPU slot or one GPU.

It keeps its engine loaded between chunks (the scene is parsed and its
buffers stay on the device while the next chunk is for the same shot setup),
writes every frame to the store itself and returns keys and digests only.
Hosted as a Ray actor by nodes.pool; the class itself knows nothing of Ray,
so it is tested directly.
"""

from __future__ import annotations

import time

import torch

import pipelines.render.engines  # noqa: F401  (registers the built-in engines)
from nodes.errors import PermanentError, StoreUnavailable
from nodes.protocol import ChunkOrder, ChunkResult, StoredFrame
from nodes.storage import open_store
from pipelines.exr import encode_frame, timecode
from pipelines.render.engines.base import Engine, make_engine


class RenderNode:
    def __init__(self, node_id: str, store_url: str, device: str = "cpu", threads: int = 1):
        self.node_id = node_id
        self.device = device
        self.store = open_store(store_url)
        # One node per core: torch's own thread pool would fight its neighbours.
        torch.set_num_threads(threads)
        self._engines: dict[str, Engine] = {}
        self._loaded: dict[str, str] = {}  # engine name -> setup digest

    def ping(self) -> str:
        return self.node_id

    def _engine_for(self, order: ChunkOrder) -> Engine:
        try:
            engine = self._engines.get(order.engine) or make_engine(order.engine, self.device)
        except KeyError as e:
            raise PermanentError(str(e)) from None
        self._engines[order.engine] = engine
        digest = order.setup.digest
        if self._loaded.get(order.engine) != digest:
            try:
                engine.load(order.setup)
            except (ValueError, KeyError) as e:
                raise PermanentError(f"{order.engine} cannot load shot {order.setup.shot}: {e}") from None
            self._loaded[order.engine] = digest
        return engine

    def render(self, order: ChunkOrder) -> ChunkResult:
        started = time.perf_counter()
        engine = self._engine_for(order)
        frames = []
        for frame in range(order.first, order.last + 1):
            pixels = engine.render(frame).numpy()
            data = encode_frame(
                pixels,
                fps=order.fps,
                timecode=timecode(frame - order.timeline_first, order.fps, order.start_timecode),
                attributes={
                    "sequence": order.sequence_id,
                    "shot": order.setup.shot,
                    "frame": frame,
                    "setup": order.setup.digest,
                },
            )
            key = order.key(frame)
            try:
                digest = self.store.put(key, data)
            except PermanentError:
                raise  # e.g. refused credentials: another attempt would be refused too
            except OSError as e:
                raise StoreUnavailable(f"writing {key}: {e}") from None
            frames.append(StoredFrame(frame=frame, key=key, digest=digest))
        return ChunkResult(
            chunk_id=order.chunk_id,
            attempt=order.attempt,
            frames=tuple(frames),
            seconds=time.perf_counter() - started,
            device=self.device,
        )
