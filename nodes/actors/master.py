"""MasterNode: builds master segments and the deliverables made from them.

Every source frame is read back and checked against the digest the log
recorded before it goes into the master; a missing or altered frame stops
the segment with the shot and frame named (SourceFrameBad), so the farm
re-renders that chunk and no master is ever written with a hole or a stale
frame in it.
"""

from __future__ import annotations

import numpy as np

from nodes.actors.encodes import Encodes, Plan, Timeline
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
        self._timelines: dict[str, Timeline] = {}
        """By sequence: the segments stitched here, whose frames the deliverables' encodes are fed as they come."""

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
            written.append(StoredFrame(frame=frame, key=key, digest=self.store.put(key, data)))
        if order.timeline:
            self._timeline(order).stitched_segment(order.segment, tuple(written), order.labels)
        return SegmentResult(segment=order.segment, fingerprint=order.fingerprint, frames=tuple(written))

    def _timeline(self, order: SegmentOrder) -> Timeline:
        plan = Plan(order.fps, order.resolution, order.exact, bool(order.labels))
        timeline = self._timelines.get(order.sequence_id)
        if timeline is None or (timeline.names, timeline.plan) != (order.timeline, plan):
            if timeline is not None:
                timeline.drop()  # another master now: its encodes go
            timeline = self._timelines[order.sequence_id] = Timeline(order.timeline, plan, self._read_master)
        return timeline

    def forget(self, sequence_id: str) -> bool:
        """A sequence ended (delivered, failed or cancelled): its encodes stop and their files go.

        Encodes wait for frames on threads of their own, holding x265's lookahead; a sequence that
        fails after its first segments were fed would otherwise keep them until the node exits.
        """
        timeline = self._timelines.pop(sequence_id, None)
        if timeline is not None:
            timeline.drop()
        return timeline is not None

    def deliver(self, order: DeliverOrder) -> DeliverResult:
        # The encodes were fed the master's frames as its segments were stitched here, when they begin
        # this master; they are fed the rest and closed while this thread makes the contact sheet.
        plan = Plan(order.fps, order.resolution, order.exact, bool(order.labels))
        timeline = self._timelines.get(order.sequence_id)
        encodes = timeline.take(plan, order.frames, order.labels) if timeline is not None else None
        if encodes is None:
            encodes = Encodes(plan, self._read_master)
        try:
            fed = len(encodes.fed)
            encodes.feed(order.frames[fed:], order.labels[fed:])
            tiles = [(t.label, self._read(t.shot, t.source)) for t in order.sheet]
            png = contact_sheet(tiles, title=order.title, exact=order.exact)
            sheet = self._put(f"{order.key_prefix}/contact_sheet.png", png)
            encoded = encodes.finish()
            deliverables = {
                "hdr10.mp4": self._put(f"{order.key_prefix}/hdr10.mp4", encoded.hdr10.read_bytes()),
                "review_sdr.mp4": self._put(f"{order.key_prefix}/review_sdr.mp4", encoded.sdr.read_bytes()),
            }
        finally:
            encodes.discard()
        maxcll, maxfall = encoded.report.maxcll, encoded.report.maxfall
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

    def _read_master(self, label: str, frame: StoredFrame) -> np.ndarray:
        # A bad master frame names its shot: re-rendering it rebuilds its segment.
        return self._read(label.split(" ")[0] or "master", frame)

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
