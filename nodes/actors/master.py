"""MasterNode: conforms rendered shots into the master EXR sequence.

Every source frame is read back and checked against the digest the log
recorded before it goes into the master; a missing or altered frame stops
the stitch with the shot and frame named, so no master is written with a
hole or a stale frame in it.
"""

from __future__ import annotations

import numpy as np

from nodes.errors import PermanentError
from nodes.protocol import SourceFrame, StitchOrder, StitchResult, StoredFrame
from nodes.storage import open_store
from nodes.storage.base import DigestMismatch, ObjectMissing, get_verified
from pipelines.exr import FrameDecodeError, decode_frame, encode_frame, timecode
from pipelines.master.contact_sheet import contact_sheet


class SourceFrameBad(PermanentError):
    """A source frame is missing or does not match the log; its chunk must be re-rendered."""

    def __init__(self, shot: str, frame: int, why: str):
        self.shot, self.frame = shot, frame
        super().__init__(f"shot {shot} frame {frame}: {why}; re-render its chunk")


class MasterNode:
    def __init__(self, store_url: str):
        self.store = open_store(store_url)

    def _read(self, shot: str, src: StoredFrame) -> np.ndarray:
        try:
            pixels, _ = decode_frame(get_verified(self.store, src.key, src.digest))
        except ObjectMissing:
            raise SourceFrameBad(shot, src.frame, f"{src.key} is missing") from None
        except DigestMismatch as e:
            raise SourceFrameBad(shot, src.frame, str(e)) from None
        except FrameDecodeError as e:
            raise SourceFrameBad(shot, src.frame, f"{src.key} is not a readable EXR ({e})") from None
        return pixels

    def _compose(self, mf: SourceFrame, black: np.ndarray) -> tuple[np.ndarray, dict]:
        """Grade each layer, then mix them in scene-linear light (dissolves)."""
        if not mf.layers:
            return black, {"shot": "gap", "frame": mf.frame}
        pixels = np.zeros_like(black)
        for layer in mf.layers:
            src = self._read(layer.shot, layer.source)
            graded = layer.grade.apply(src) if layer.grade else src
            pixels += np.float32(layer.weight) * graded
        top = max(mf.layers, key=lambda layer: layer.weight)
        attrs: dict = {
            "shot": top.shot,
            "frame": mf.frame,
            "source_frame": top.source.frame,
            "source_digest": top.source.digest,
            "grade": top.grade.as_asc_sop() if top.grade else "none",
        }
        if len(mf.layers) > 1:
            attrs["layers"] = " + ".join(f"{l.shot}@{l.source.frame}x{l.weight:.3f}" for l in mf.layers)
        return pixels, attrs

    def stitch(self, order: StitchOrder) -> StitchResult:
        width, height = order.resolution
        black = np.zeros((height, width, 3), np.float32)
        written = []
        for mf in order.frames:
            pixels, attrs = self._compose(mf, black)
            data = encode_frame(
                pixels,
                fps=order.fps,
                timecode=timecode(mf.frame - order.timeline_first, order.fps, order.start_timecode),
                attributes={"sequence": order.sequence_id, **attrs},
            )
            key = f"{order.key_prefix}/exr/{mf.frame:06d}.exr"
            written.append(StoredFrame(frame=mf.frame, key=key, digest=self.store.put(key, data)))
        tiles = [(t.label, self._read(t.shot, t.source)) for t in order.sheet]
        png = contact_sheet(tiles, title=order.title)
        sheet_key = f"{order.key_prefix}/contact_sheet.png"
        sheet = StoredFrame(frame=0, key=sheet_key, digest=self.store.put(sheet_key, png))
        return StitchResult(frames=tuple(written), contact_sheet=sheet)
