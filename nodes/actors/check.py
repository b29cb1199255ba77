"""CheckNode: runs the continuity rules on a cut as soon as its boundary frames exist.

It reads the two frames from the store (checked against the log's digests),
hands them to the pure rules in pipelines.continuity, and stores a report
row (findings plus thumbnails) for the final report. A frame it cannot read
becomes a finding, never an exception: the cut gets a verdict either way.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from nodes.protocol import CheckOrder, CheckResult, StoredFrame
from nodes.storage import open_store
from nodes.storage.base import DigestMismatch, ObjectMissing, get_verified
from pipelines.continuity.check import check_cut
from pipelines.continuity.cut import Cut
from pipelines.continuity.report import CutReport
from pipelines.exr import FrameDecodeError, decode_frame
from pipelines.spec.sequence import Sequence


class CheckNode:
    def __init__(self, store_url: str, device: str = "cpu", threads: int = 1):
        self.store = open_store(store_url)
        self.device = device
        torch.set_num_threads(threads)

    def _pixels(self, frame: StoredFrame | None) -> np.ndarray | None:
        if frame is None:
            return None
        try:
            pixels, _ = decode_frame(get_verified(self.store, frame.key, frame.digest))
        except (ObjectMissing, DigestMismatch, FrameDecodeError):
            return None  # the rules report a missing or unreadable frame as a finding
        return pixels

    def check(self, order: CheckOrder) -> CheckResult:
        sequence = Sequence.model_validate(order.spec)
        cut = Cut.between(
            sequence,
            order.left,
            order.right,
            self._pixels(order.left_frame),
            self._pixels(order.right_frame),
            device=self.device,
        )
        findings = check_cut(cut)
        row = CutReport.build(cut, findings)
        tag = hashlib.sha256(order.fingerprint.encode()).hexdigest()[:12]
        key = f"{order.report_prefix}/{order.left}-{order.right}/{tag}.json"
        self.store.put(key, row.model_dump_json().encode())
        return CheckResult(cut=order.cut, fingerprint=order.fingerprint, findings=tuple(findings), report_key=key)
