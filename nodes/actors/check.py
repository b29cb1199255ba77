"""CheckNode: runs the continuity rules on a cut as soon as its boundary frames exist.

It reads the two frames from the store (checked against the log's digests),
hands them to the pure rules in pipelines.continuity, and stores a report
row (findings plus thumbnails) for the final report. A frame it cannot read
becomes a finding, never an exception: the cut gets a verdict either way.

With each frame goes what the engine reported in its header (the camera
that looked, watched objects): a shot without a spec camera is staged from
it. For such a shot it also reads the header of the frame next to the
boundary, so the subject's motion on screen can be judged.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from nodes.protocol import CheckOrder, CheckResult, StoredFrame, TakesOrder, TakesResult
from nodes.storage import open_store
from nodes.storage.base import DigestMismatch, ObjectMissing, Store, get_verified
from pipelines.continuity import takes
from pipelines.continuity.check import check_cut
from pipelines.continuity.cut import Cut
from pipelines.continuity.report import CutReport
from pipelines.exr import FrameDecodeError, decode_frame, read_header
from pipelines.render.reported import Reported, reported
from pipelines.spec.sequence import Sequence


class CheckNode:
    def __init__(self, store: str | Store, device: str = "cpu", threads: int = 1):
        """`store`: a store URL (see nodes.storage.open_store), or an open store."""
        self.store = open_store(store) if isinstance(store, str) else store
        self.device = device
        torch.set_num_threads(threads)

    def _frame(self, frame: StoredFrame | None) -> tuple[np.ndarray | None, Reported | None]:
        if frame is None:
            return None, None
        try:
            pixels, header = decode_frame(get_verified(self.store, frame.key, frame.digest))
        except (ObjectMissing, DigestMismatch, FrameDecodeError):
            return None, None  # the rules report a missing or unreadable frame as a finding
        return pixels, reported(header)

    def _neighbour(self, frame: StoredFrame | None, boundary: Reported | None) -> tuple[int, Reported] | None:
        if frame is None or boundary is None or boundary.camera is None:
            return None  # nothing to stage motion with: spec shots are staged from the spec
        try:
            return frame.frame, reported(read_header(get_verified(self.store, frame.key, frame.digest)))
        except (ObjectMissing, DigestMismatch, FrameDecodeError):
            return None  # screen direction is then not judged on this side

    def check(self, order: CheckOrder) -> CheckResult:
        sequence = Sequence.model_validate(order.spec)
        left_pixels, left_report = self._frame(order.left_frame)
        right_pixels, right_report = self._frame(order.right_frame)
        spec_camera = [sequence.shot(name).camera is not None for name in (order.left, order.right)]
        cut = Cut.between(
            sequence,
            order.left,
            order.right,
            left_pixels,
            right_pixels,
            device=self.device,
            reported=(left_report, right_report),
            neighbours=(
                None if spec_camera[0] else self._neighbour(order.left_neighbour, left_report),
                None if spec_camera[1] else self._neighbour(order.right_neighbour, right_report),
            ),
        )
        findings = check_cut(cut)
        row = CutReport.build(cut, findings)
        tag = hashlib.sha256(order.fingerprint.encode()).hexdigest()[:12]
        key = f"{order.report_prefix}/{order.left}-{order.right}/{tag}.json"
        self.store.put(key, row.model_dump_json().encode())
        return CheckResult(cut=order.cut, fingerprint=order.fingerprint, findings=tuple(findings), report_key=key)

    def score_takes(self, order: TakesOrder) -> TakesResult:
        """Cut every take against the shots beside it and score it with the continuity rules (pipelines.continuity.takes)."""
        sequence = Sequence.model_validate(order.spec)
        left = self._frame(order.left_frame)
        right = self._frame(order.right_frame)
        scores = []
        for take in order.takes:
            cuts = []
            if order.left is not None:
                first = self._frame(take.first)
                cuts.append(
                    Cut.between(sequence, order.left, order.shot, left[0], first[0], device=self.device, reported=(left[1], first[1]))
                )
            if order.right is not None:
                last = self._frame(take.last)
                cuts.append(
                    Cut.between(sequence, order.shot, order.right, last[0], right[0], device=self.device, reported=(last[1], right[1]))
                )
            scores.append(takes.score(take.take, take.chunk_id, cuts))
        best, reason = takes.choose(scores)
        return TakesResult(
            shot=order.shot, version=order.version, fingerprint=order.fingerprint, take=best.take, scores=tuple(scores), reason=reason
        )
