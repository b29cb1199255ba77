"""RenderNode: a long-lived worker that owns one CPU slot or one GPU.

It builds engines through the registry (pipelines.render.engines.registry)
and keeps one loaded per engine name between chunks, loading again only when
the shot setup changes (the scene stays parsed, a warm process stays open,
buffers stay on the device). It writes every frame to the store itself, with
what the engine reported (the camera that looked, watched objects, the
engine's provenance) in the frame's EXR header, and returns keys and digests
only. Hosted as a Ray actor by nodes.pool; the class itself knows nothing of
Ray, so it is tested directly. `close` releases the engines and the node's
scratch folder.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import re
import shutil
import tempfile
import time
import weakref
from pathlib import Path

import numpy as np

from nodes.errors import PermanentError, StoreUnavailable, TransientError
from nodes.protocol import ChunkOrder, ChunkResult, StoredFrame
from nodes.storage import open_store
from nodes.storage.base import Store, get_verified
from pipelines.exr import encode_frame, timecode
from pipelines.render import reported
from pipelines.render.engines import registry
from pipelines.render.engines.base import Engine, EngineContext, RenderedFrame
from pipelines.spec.setup import ShotSetup
from pipelines.spec.sources import STORE_PREFIX

log = logging.getLogger(__name__)

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def fetch(store: Store, ref: str) -> bytes:
    """A scene file from the store: `KEY`, or `KEY@SHA256` to have the bytes checked against that digest.

    A pinned digest also makes the shot setup's digest change with the file,
    so a node loads the new file instead of keeping the old one warm.
    """
    key, _, digest = ref.removeprefix(STORE_PREFIX).partition("@")
    if not digest:
        return store.get(key)  # an S3 store still checks its own recorded digest
    if not _DIGEST.match(digest):
        raise ValueError(f"{ref!r}: the digest after @ must be 64 lowercase hex digits (sha256)")
    return get_verified(store, key, digest)


class RenderNode:
    def __init__(self, node_id: str, store_url: str, device: str = "cpu", threads: int = 1):
        self.node_id = node_id
        self.device = device
        self.store = open_store(store_url)
        self.scratch = _scratch_folder(node_id)
        # Removed at close, or when the process exits cleanly without one; what a
        # killed node left is removed by the next node started on the machine.
        self._remove_scratch = weakref.finalize(self, shutil.rmtree, self.scratch, True)
        self.context = EngineContext(device=device, scratch=self.scratch, fetch=functools.partial(fetch, self.store), threads=threads)
        self._engines: dict[str, Engine] = {}
        self._loaded: dict[str, str] = {}  # engine name -> setup digest

    def ping(self) -> str:
        return self.node_id

    def _build(self, name: str) -> Engine:
        scratch = self.scratch / name
        scratch.mkdir(exist_ok=True)
        try:
            return registry.build(name, dataclasses.replace(self.context, scratch=scratch))
        except KeyError as e:  # no such engine anywhere in this environment
            raise PermanentError(_sentence(e)) from None
        except registry.EngineUnavailable as e:  # another node may have what this one lacks
            raise TransientError(str(e)) from None

    def _engine_for(self, order: ChunkOrder) -> Engine:
        name = order.engine
        engine = self._engines.get(name)
        if engine is None:
            engine = self._engines[name] = self._build(name)
        digest = order.setup.digest
        if self._loaded.get(name) != digest:
            self._loaded.pop(name, None)
            try:
                engine.load(order.setup)
            except (ValueError, KeyError) as e:
                self._drop(name)
                raise PermanentError(f"engine {name} cannot load shot {order.setup.shot} from {_source(order.setup)}: {_sentence(e)}") from None
            except BaseException:
                self._drop(name)  # whatever it holds now is suspect: the retry starts from a fresh one
                raise
            self._loaded[name] = digest
        return engine

    def render(self, order: ChunkOrder) -> ChunkResult:
        started = time.perf_counter()
        engine = self._engine_for(order)
        frames: list[StoredFrame] = []
        try:
            for rendered in engine.render_chunk(order.first, order.last):
                expected = order.first + len(frames)
                if rendered.frame != expected or expected > order.last:
                    raise RuntimeError(f"engine {order.engine} returned frame {rendered.frame} where {expected} was due")
                frames.append(self._store(order, rendered))
        except (PermanentError, StoreUnavailable):
            raise
        except BaseException:
            self._drop(order.engine)
            raise
        if len(frames) != order.last - order.first + 1:
            self._drop(order.engine)
            raise RuntimeError(f"engine {order.engine} returned {len(frames)} frames for {order.first}-{order.last}")
        seconds = time.perf_counter() - started
        log.info(
            "%s rendered frames %d-%d with %s in %.2f s (attempt %d)", self.node_id, order.first, order.last, order.engine, seconds,
            order.attempt, extra={"sequence": order.sequence_id, "shot": order.setup.shot, "chunk": order.chunk_id},
        )
        return ChunkResult(
            chunk_id=order.chunk_id,
            attempt=order.attempt,
            frames=tuple(frames),
            seconds=seconds,
            device=self.device,
        )

    def render_many(self, orders: list[ChunkOrder], within: float) -> list[ChunkResult]:
        """Render several chunks sent in one call, in turn; the results of those rendered, in order.

        The next chunk starts only while less than `within` seconds have passed
        since the call began, so a result rides back with its neighbours only
        when they are quick (a call's overhead then matters); a long chunk comes
        back alone. A failure of the first chunk is the call's; a later one
        stops the call before it. The caller sends what did not come back again,
        one call each.
        """
        started = time.perf_counter()
        results = [self.render(orders[0])]
        for order in orders[1:]:
            if time.perf_counter() - started >= within:
                break
            try:
                results.append(self.render(order))
            except Exception as e:  # sent again alone, its failure is reported by that call
                log.info("%s stops a call of %d chunks at %s: %s", self.node_id, len(orders), order.chunk_id, _sentence(e))
                break
        return results

    def _store(self, order: ChunkOrder, rendered: RenderedFrame) -> StoredFrame:
        frame = rendered.frame
        attributes: dict[str, str | int | float] = {
            "sequence": order.sequence_id,
            "shot": order.setup.shot,
            "frame": frame,
            "setup": order.setup.digest,
            reported.ENGINE: order.engine,
            **reported.attributes_of(rendered),
            # The engine's provenance under its own name, so it never shadows the farm's fields.
            **{f"{order.engine}.{k}": str(v) for k, v in sorted(rendered.attributes.items())},
        }
        data = encode_frame(
            np.asarray(rendered.pixels, dtype=np.float32),
            fps=order.fps,
            timecode=timecode(frame - order.timeline_first, order.fps, order.start_timecode),
            attributes=attributes,
            standard={"worldToCamera": rendered.camera.exr_matrix} if rendered.camera is not None else None,
        )
        key = order.key(frame)
        try:
            digest = self.store.put(key, data)
        except PermanentError:
            raise  # e.g. refused credentials: another attempt would be refused too
        except OSError as e:
            raise StoreUnavailable(f"writing {key}: {e}") from None
        return StoredFrame(frame=frame, key=key, digest=digest)

    def _drop(self, name: str) -> None:
        self._loaded.pop(name, None)
        engine = self._engines.pop(name, None)
        if engine is not None:
            try:
                engine.close()
            except Exception:
                pass  # it is being discarded because it already failed; the original error is the one to report

    def close(self) -> None:
        """Close every engine and remove the scratch folder. Safe to call twice."""
        for name in list(self._engines):
            self._drop(name)
        self._remove_scratch()


def _scratch_folder(node_id: str) -> Path:
    """A new folder private to this node process, under the user's own folder of node scratch."""
    root = Path(tempfile.gettempdir()) / f"shotfarm-scratch-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    for left in root.iterdir():
        pid = left.name.rpartition("-")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(left, ignore_errors=True)
    safe = re.sub(r"[^A-Za-z0-9_.]", "_", node_id)[:40]
    return Path(tempfile.mkdtemp(prefix=f"{safe}-", suffix=f"-{os.getpid()}", dir=root))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours to judge
    return True


def _sentence(e: BaseException) -> str:
    # str(KeyError("x")) is "'x'": a person wants the message, not its repr.
    return str(e.args[0]) if isinstance(e, KeyError) and len(e.args) == 1 else str(e)


def _source(setup: ShotSetup) -> str:
    scene = setup.scene
    if scene.blend is not None:
        return scene.blend.file
    if scene.command is not None:
        return scene.command.file
    return "the spec's scene"
