"""The deliverables' encodes, fed master frames while the farm still renders.

The HDR10 master (one pass, its light levels written after:
pipelines.master.hdr10_measured) and the SDR review proxy each run on a
thread of their own and wait for their next frame. The master node feeds
them each segment's frames as soon as every segment before it on the
timeline is stitched, so by the time the last segment is, most of both
files is encoded. The delivery then feeds what is left and closes them.

What was fed is kept (every frame's key, digest and label), so the delivery
can tell whether it is a prefix of the master it is asked for; anything else
(a segment stitched again after a fix, another resolution) starts the
encodes afresh from the first frame. The files are those a single delivery
makes from the whole master: only the time they are made changes.
"""

from __future__ import annotations

import queue
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from nodes.protocol import StoredFrame
from pipelines.master.hdr10 import HDR10Report, hdr10_from_master
from pipelines.master.hdr10_measured import StreamTooLong, encode_hdr10_measured
from pipelines.master.light_sei import SEIError
from pipelines.master.sdr import encode_sdr_proxy

_END = object()


class Abandoned(Exception):
    """The encodes were discarded before their last frame."""


class Plan(NamedTuple):
    """What the encodes are made for: the same plan, fed the same frames, makes the same files."""

    fps: Fraction
    resolution: tuple[int, int]
    exact: bool
    burn_in: bool


class Encoded(NamedTuple):
    hdr10: Path
    sdr: Path
    report: HDR10Report


class Encodes:
    """The HDR10 and SDR encodes of one master, fed frame by frame in timeline order.

    ``read(label, frame)`` returns a master frame as ACEScg, checked against
    its digest; it runs on the encodes' threads. Precondition: one thread
    feeds, finishes or abandons.
    """

    def __init__(self, plan: Plan, read: Callable[[str, StoredFrame], np.ndarray]):
        self.plan, self._read = plan, read
        self.fed: list[StoredFrame] = []
        self.labels: list[str] = []
        self._dir = Path(tempfile.mkdtemp(prefix="shotfarm-encodes-"))
        self._feeds: list[queue.Queue] = []
        self._done: list[Future] = []
        self._closed, self._stop = threading.Event(), threading.Event()
        width, height = plan.resolution
        self._common: dict[str, Any] = {"fps": plan.fps, "width": width, "height": height, "exact": plan.exact}
        burn = (lambda i: self.labels[i]) if plan.burn_in else None
        self._start("hdr10", self._hdr10)
        self._start("sdr", lambda frames: encode_sdr_proxy(frames, self._dir / "review.mp4", burn_in=burn, **self._common))

    def _hdr10(self, frames: Iterator[np.ndarray]) -> HDR10Report:
        path = self._dir / "hdr10.mp4"
        try:
            return encode_hdr10_measured(frames, path, **self._common)
        except (SEIError, StreamTooLong):
            # The stream could not wait for its light levels: once every frame is fed, the master is read twice.
            self._closed.wait()
            if self._stop.is_set():
                raise Abandoned() from None

            def read(i: int) -> np.ndarray:
                return self._read(self.labels[i], self.fed[i])

            return hdr10_from_master(read, len(self.fed), path, **self._common)

    def _start(self, name: str, encode: Callable[[Iterator[np.ndarray]], Any]) -> None:
        feed: queue.Queue = queue.Queue()
        done: Future = Future()

        def frames() -> Iterator[np.ndarray]:
            while (item := feed.get()) is not _END:
                if self._stop.is_set():
                    raise Abandoned()
                yield self._read(*item)

        def run() -> None:
            try:
                done.set_result(encode(frames()))
            except BaseException as e:  # handed to whoever finishes the encodes
                done.set_exception(e)

        self._feeds.append(feed)
        self._done.append(done)
        threading.Thread(target=run, name=f"encode-{name}", daemon=True).start()

    def matches(self, plan: Plan, frames: tuple[StoredFrame, ...], labels: tuple[str, ...]) -> bool:
        """Whether what was fed begins the master ``frames`` (with ``labels``) for ``plan``, and no encode failed."""
        n = len(self.fed)
        return (
            plan == self.plan
            and tuple(self.fed) == frames[:n]
            and (not plan.burn_in or tuple(self.labels) == labels[:n])
            and not any(d.done() and d.exception() is not None for d in self._done)
        )

    def feed(self, frames: tuple[StoredFrame, ...], labels: tuple[str, ...]) -> None:
        """Hand on the master's next frames; ``labels`` (one per frame) when burnt in."""
        for i, frame in enumerate(frames):
            label = labels[i] if labels else ""
            self.fed.append(frame)
            self.labels.append(label)
            for feed in self._feeds:
                feed.put((label, frame))

    def finish(self) -> Encoded:
        """Close both encodes and wait for them; raises what either raised. ``discard`` removes the files after."""
        self._close()
        report = self._done[0].result()
        self._done[1].result()
        return Encoded(self._dir / "hdr10.mp4", self._dir / "review.mp4", report)

    def discard(self) -> None:
        """Stop both encodes (each reads no further frame) and remove their files."""
        self._stop.set()
        self._close()
        for done in self._done:
            done.exception()  # waits; what it raised or made is dropped
        shutil.rmtree(self._dir, ignore_errors=True)

    def _close(self) -> None:
        if not self._closed.is_set():
            for feed in self._feeds:
                feed.put(_END)
            self._closed.set()


class Timeline:
    """A sequence's master segments as stitched here, fed to its encodes in timeline order.

    ``names``: every segment of the master in timeline order. A segment is fed
    once all before it are; one stitched again with other frames after it was
    fed starts the encodes afresh.
    """

    def __init__(self, names: tuple[str, ...], plan: Plan, read: Callable[[str, StoredFrame], np.ndarray]):
        self.names, self.plan, self._read = names, plan, read
        self.stitched: dict[str, tuple[tuple[StoredFrame, ...], tuple[str, ...]]] = {}
        self.encodes: Encodes | None = None
        self.next = 0

    def stitched_segment(self, segment: str, frames: tuple[StoredFrame, ...], labels: tuple[str, ...]) -> None:
        before = self.stitched.get(segment)
        self.stitched[segment] = (frames, labels)
        if before not in (None, (frames, labels)) and segment in self.names[: self.next]:
            self.drop()
        while self.next < len(self.names) and self.names[self.next] in self.stitched:
            if self.encodes is None:
                self.encodes = Encodes(self.plan, self._read)
            self.encodes.feed(*self.stitched[self.names[self.next]])
            self.next += 1

    def take(self, plan: Plan, frames: tuple[StoredFrame, ...], labels: tuple[str, ...]) -> Encodes | None:
        """The encodes fed so far, if they begin this master; the next segment stitched starts new ones."""
        encodes = self.encodes
        self.encodes, self.next = None, 0
        if encodes is not None and not encodes.matches(plan, frames, labels):
            encodes.discard()
            return None
        return encodes

    def drop(self) -> None:
        """Discard the encodes fed so far (another master is being stitched)."""
        if self.encodes is not None:
            self.encodes.discard()
        self.encodes, self.next = None, 0
