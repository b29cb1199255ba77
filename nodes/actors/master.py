"""MasterNode: builds master segments and the deliverables made from them.

Every source frame is read back and checked against the digest the log
recorded before it goes into the master; a missing or altered frame stops
the segment with the shot and frame named (SourceFrameBad), so the farm
re-renders that chunk and no master is ever written with a hole or a stale
frame in it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from nodes.errors import PermanentError
from nodes.protocol import (
    CutRow,
    DeliverOrder,
    DeliverResult,
    SegmentOrder,
    SegmentResult,
    SourceFrame,
    StoredFrame,
)
from nodes.storage import open_store
from nodes.storage.base import DigestMismatch, ObjectMissing, get_verified
from pipelines.continuity.report import CutReport, Verdict, report_html, report_json, takes_json
from pipelines.editorial.otio import conform_otio
from pipelines.exr import PREFIX, FrameDecodeError, decode_frame, encode_frame, timecode
from pipelines.master.contact_sheet import contact_sheet
from pipelines.master.delivered_cut import grades_ccc
from pipelines.master.hdr10 import HDR10Report, hdr10_from_master, master_light_levels
from pipelines.master.sdr import encode_sdr_proxy


def source_provenance(header: dict) -> dict[str, str]:
    """What a master frame repeats of its source frame's header: the engine that rendered it and that engine's own record
    (its version, the colour space it rendered in and how it was converted to ACEScg)."""
    engine = header.get(PREFIX + "engine")
    if not isinstance(engine, str):
        return {}
    own = PREFIX + engine + "."
    out = {"source_engine": engine}
    for key, value in sorted(header.items()):
        if key.startswith(own) and isinstance(value, str):
            out["source_" + key[len(PREFIX):]] = value[:1024]
    return out


class SourceFrameBad(PermanentError):
    """A source frame is missing or does not match the log; its chunk must be re-rendered."""

    def __init__(self, shot: str, frame: int, why: str):
        self.shot, self.frame, self.why = shot, frame, why
        super().__init__(f"shot {shot} frame {frame}: {why}; its chunk must be re-rendered")

    def __reduce__(self):  # keep the fields across Ray's process boundary
        return (SourceFrameBad, (self.shot, self.frame, self.why))


class MasterNode:
    def __init__(self, store_url: str):
        self.store = open_store(store_url)
        self._levels: dict[str, tuple[float, float]] = {}
        """HDR10 light levels (baked view) of the master frames stitched here, by digest, measured as each was written,
        so the deliverables need not read the whole master once more to find MaxCLL and MaxFALL."""

    def _check(self, shot: str, src: StoredFrame) -> bytes:
        try:
            return get_verified(self.store, src.key, src.digest)
        except ObjectMissing:
            raise SourceFrameBad(shot, src.frame, f"{src.key} is missing") from None
        except DigestMismatch as e:
            raise SourceFrameBad(shot, src.frame, str(e)) from None

    def _read(self, shot: str, src: StoredFrame) -> np.ndarray:
        return self._decode(shot, src)[0]

    def _decode(self, shot: str, src: StoredFrame) -> tuple[np.ndarray, dict]:
        try:
            return decode_frame(self._check(shot, src))
        except FrameDecodeError as e:
            raise SourceFrameBad(shot, src.frame, f"{src.key} is not a readable EXR ({e})") from None

    def _compose(self, mf: SourceFrame, black: np.ndarray) -> tuple[np.ndarray, dict]:
        """Grade each layer, then mix them in scene-linear light (dissolves)."""
        if not mf.layers:
            return black, {"shot": "gap", "frame": mf.frame}
        pixels = np.zeros_like(black)
        top = max(mf.layers, key=lambda layer: layer.weight)
        provenance: dict = {}
        for layer in mf.layers:
            src, header = self._decode(layer.shot, layer.source)
            if layer is top:
                provenance = source_provenance(header)
            for cdl in layer.grades:
                src = cdl.apply(src)
            pixels += np.float32(layer.weight) * src
        attrs: dict = {
            "shot": top.shot,
            "frame": mf.frame,
            "source_frame": top.source.frame,
            "source_digest": top.source.digest,
            "grade": " then ".join(c.as_asc_sop() for c in top.grades) or "none",
            **provenance,
        }
        if len(mf.layers) > 1:
            attrs["layers"] = " + ".join(f"{x.shot}@{x.source.frame}x{x.weight:.3f}" for x in mf.layers)
        return pixels, attrs

    def stitch_segment(self, order: SegmentOrder) -> SegmentResult:
        width, height = order.resolution
        black = np.zeros((height, width, 3), np.float32)
        # Check every source against the log before writing anything, so a bad
        # frame leaves the previous version of the segment untouched.
        for mf in order.frames:
            for layer in mf.layers:
                self._check(layer.shot, layer.source)
        written = []
        for mf in order.frames:
            frame = mf.frame
            pixels, attrs = self._compose(mf, black)
            data = encode_frame(
                pixels,
                fps=order.fps,
                timecode=timecode(frame - order.timeline_first, order.fps, order.start_timecode),
                attributes={"sequence": order.sequence_id, **attrs},
            )
            key = f"{order.key_prefix}/exr/{frame:06d}.exr"
            digest = self.store.put(key, data)
            self._measure(digest, data)
            written.append(StoredFrame(frame=frame, key=key, digest=digest))
        return SegmentResult(segment=order.segment, fingerprint=order.fingerprint, frames=tuple(written))

    def _measure(self, digest: str, data: bytes) -> None:
        """Light levels of a frame as stored (decoded back from its EXR), while the farm still renders."""
        pixels = decode_frame(data)[0]
        height, width = pixels.shape[:2]
        if height % 2 == 0 and width % 2 == 0:  # else the encode refuses the master, saying why
            self._levels[digest] = master_light_levels(pixels)

    def deliver(self, order: DeliverOrder) -> DeliverResult:
        # The two encodes run side by side (the colour maths and x265/x264 release
        # the GIL) while this thread makes the contact sheet. The pool is left
        # (every encode finished or failed) before the folder is removed.
        with tempfile.TemporaryDirectory(prefix="shotfarm-deliver-") as tmp, ThreadPoolExecutor(2, thread_name_prefix="deliver") as encoders:
            hdr_path, sdr_path = Path(tmp) / "hdr10.mp4", Path(tmp) / "review.mp4"
            hdr_done = encoders.submit(self._hdr10, order, hdr_path)
            sdr_done = encoders.submit(self._sdr, order, sdr_path)
            tiles = [(t.label, self._read(t.shot, t.source)) for t in order.sheet]
            png = contact_sheet(tiles, title=order.title, exact=order.exact)
            sheet = self._put(f"{order.key_prefix}/contact_sheet.png", png)
            hdr = hdr_done.result()
            sdr_done.result()
            deliverables = {
                "hdr10.mp4": self._put(f"{order.key_prefix}/hdr10.mp4", hdr_path.read_bytes()),
                "review_sdr.mp4": self._put(f"{order.key_prefix}/review_sdr.mp4", sdr_path.read_bytes()),
            }
        maxcll, maxfall = hdr.maxcll, hdr.maxfall
        if order.cuts or order.takes:
            rows = [self._final_row(c) for c in order.cuts]
            deliverables["continuity.json"] = self._put(f"{order.key_prefix}/continuity.json", report_json(rows).encode())
            html = report_html(rows, title=f"Continuity: {order.title}", takes=order.takes)
            deliverables["continuity.html"] = self._put(f"{order.key_prefix}/continuity.html", html.encode())
        if order.takes:
            deliverables["continuity.takes.json"] = self._put(f"{order.key_prefix}/continuity.takes.json", takes_json(order.takes).encode())
        if order.conform is not None:
            # The grades and the conform leave the farm with the master, the grade beside the raw frames.
            deliverables["grades.ccc"] = self._put(f"{order.key_prefix}/grades.ccc", grades_ccc(order.conform))
            deliverables["conform.otio"] = self._put(f"{order.key_prefix}/conform.otio", conform_otio(order.conform))
        return DeliverResult(contact_sheet=sheet, deliverables=deliverables, maxcll=maxcll, maxfall=maxfall)

    def _master_reader(self, order: DeliverOrder) -> Callable[[int], np.ndarray]:
        """Master frame i as stored, checked against its digest."""
        labels = order.labels or tuple("" for _ in order.frames)

        def read(i: int) -> np.ndarray:
            # A bad master frame names its shot: re-rendering it rebuilds its segment.
            return self._read(labels[i].split(" ")[0] or "master", order.frames[i])

        return read

    def _hdr10(self, order: DeliverOrder, path: Path) -> HDR10Report:
        width, height = order.resolution

        def known(i: int) -> tuple[float, float] | None:
            return self._levels.get(order.frames[i].digest)

        return hdr10_from_master(
            self._master_reader(order), len(order.frames), path, fps=order.fps, width=width, height=height,
            exact=order.exact, known_levels=None if order.exact else known,
        )  # fmt: skip

    def _sdr(self, order: DeliverOrder, path: Path) -> None:
        width, height = order.resolution
        read = self._master_reader(order)
        encode_sdr_proxy(
            (read(i) for i in range(len(order.frames))),
            path,
            fps=order.fps,
            width=width,
            height=height,
            burn_in=(lambda i: order.labels[i]) if order.labels else None,
            exact=order.exact,
        )

    def _put(self, key: str, data: bytes) -> StoredFrame:
        return StoredFrame(frame=0, key=key, digest=self.store.put(key, data))

    def _final_row(self, cut: CutRow) -> CutReport:
        """What was wrong at the first check, and the cut as it is mastered after the fixes."""
        first = CutReport.model_validate_json(self.store.get(cut.reports[0]))
        last = CutReport.model_validate_json(self.store.get(cut.reports[-1]))
        if cut.status == "fixed":
            kinds = sorted({type(f.fix).__name__.lower() for f in first.findings if f.fix is not None})
            label = "after the fix: " + " and ".join({"grade": "graded", "requeue": "re-rendered"}.get(k, k) for k in kinds)
        else:
            label = "unchanged" if cut.status == "ok" else "as mastered (for review)"
        verdict = last.verdict if cut.status == "review" and last.verdict is Verdict.ERROR else Verdict(cut.status)
        return first.model_copy(update={"after": last.before, "after_label": label, "verdict": verdict})
