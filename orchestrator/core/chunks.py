"""A sequence's chunks: an immutable map that one event changes at the cost of what it changed.

State is a value (every event folds to a new one, the old stays as it was),
and a sequence may hold 100,000 chunks. Copying a dict of all of them for
each ChunkStarted would make every event cost O(chunks). The table keeps
chunks in blocks of about sqrt(n): replacing one copies its block and the
short tuple of blocks, and everything else is shared with the table before.

It also keeps the counts people and decisions read (chunks and frames by
status, rendered chunks per shot, node seconds and cost), updated by the
same replacement, and an index of which chunk holds a shot's frame, fixed
when the chunks are planned. None of these is ever found by a scan.
Iteration is in plan order, as the dict the table replaces iterated.

Memory: a queued chunk's plan is most of what the farm holds for it, and
each pydantic model keeps its own set of the field names it was given
(`model_fields_set`), the same names for every chunk. The table shares one
set per distinct value among the plans it is made of (one chunk's plan and
its frame range would otherwise carry two sets, about 430 bytes).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import ItemsView, Iterable, Iterator, Mapping, ValuesView
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from orchestrator.core.events import FrameRecord
from orchestrator.core.status import ChunkStatus
from pipelines.chunking import ChunkPlan

_MIN_BLOCK = 32


class _Chunk(Protocol):
    """What the table reads of a chunk (core.state.ChunkState)."""

    @property
    def plan(self) -> ChunkPlan: ...
    @property
    def status(self) -> ChunkStatus: ...
    @property
    def frames(self) -> tuple[FrameRecord, ...]: ...
    @property
    def node_seconds(self) -> float: ...
    @property
    def cost_usd(self) -> float: ...


ChunkState = TypeVar("ChunkState", bound=_Chunk)


@dataclass(frozen=True)
class _Layout:
    """What planning fixed and every later table of the same chunks shares."""

    ids: tuple[str, ...]
    index: Mapping[str, int]
    block: int
    shots: Mapping[str, int]
    """shot -> how many chunks it has."""
    holding: Mapping[str, tuple[tuple[int, ...], tuple[int, ...], tuple[str, ...]]]
    """shot -> (first frames, last frames, chunk ids), sorted by first frame."""
    frames_total: int


@dataclass(frozen=True)
class _Counts:
    by_status: Mapping[ChunkStatus, int]
    rendered_by_shot: Mapping[str, int]
    frames_rendered: int
    node_seconds: float
    cost_usd: float


def _layout(chunks: list[Any]) -> _Layout:
    ids = tuple(c.plan.chunk_id for c in chunks)
    shots: dict[str, int] = {}
    ranges: dict[str, list[tuple[int, int, str]]] = {}
    for c in chunks:
        shots[c.plan.shot] = shots.get(c.plan.shot, 0) + 1
        ranges.setdefault(c.plan.shot, []).append((c.plan.frames.first, c.plan.frames.last, c.plan.chunk_id))
    holding = {}
    for shot, spans in ranges.items():
        spans.sort()
        holding[shot] = (tuple(s[0] for s in spans), tuple(s[1] for s in spans), tuple(s[2] for s in spans))
    return _Layout(
        ids=ids,
        index=MappingProxyType({cid: i for i, cid in enumerate(ids)}),
        block=max(_MIN_BLOCK, math.isqrt(len(ids))),
        shots=MappingProxyType(shots),
        holding=MappingProxyType(holding),
        frames_total=sum(len(c.plan.frames) for c in chunks),
    )


def _share_fields_sets(plans: Iterable[BaseModel]) -> None:
    """Give models whose fields-set is equal one set object between them, as `model_construct(_fields_set=...)` would.

    Pydantic never changes a frozen model's fields-set in place (a copy gets a copy of it).
    """
    shared: dict[frozenset[str], set[str]] = {}
    for model in plans:
        for m in (model, *(v for v in model.__dict__.values() if isinstance(v, BaseModel))):
            names = m.__pydantic_fields_set__
            one = shared.setdefault(frozenset(names), names)
            if one is not names:
                object.__setattr__(m, "__pydantic_fields_set__", one)


def _rendered_frames(c: _Chunk) -> int:
    return len(c.frames) if c.status is ChunkStatus.RENDERED else 0


class ChunkTable(Mapping[str, ChunkState], Generic[ChunkState]):
    """chunk id -> ChunkState, immutable; `replace` returns a new table."""

    __slots__ = ("_layout", "_blocks", "_counts")

    _layout: _Layout
    _blocks: tuple[tuple[ChunkState, ...], ...]
    _counts: _Counts

    def __init__(self, layout: _Layout, blocks: tuple[tuple[ChunkState, ...], ...], counts: _Counts):
        self._layout, self._blocks, self._counts = layout, blocks, counts

    @classmethod
    def of(cls, chunks: Mapping[str, ChunkState]) -> ChunkTable[ChunkState]:
        """A table of these chunks, in their order: O(chunks), done when chunks are planned."""
        if isinstance(chunks, ChunkTable):
            return chunks
        items = list(chunks.values())
        _share_fields_sets(c.plan for c in items)
        layout = _layout(items)
        size = layout.block
        blocks = tuple(tuple(items[i : i + size]) for i in range(0, len(items), size))
        by_status: dict[ChunkStatus, int] = {}
        rendered: dict[str, int] = {}
        for c in items:
            by_status[c.status] = by_status.get(c.status, 0) + 1
            if c.status is ChunkStatus.RENDERED:
                rendered[c.plan.shot] = rendered.get(c.plan.shot, 0) + 1
        counts = _Counts(
            by_status=MappingProxyType(by_status),
            rendered_by_shot=MappingProxyType(rendered),
            frames_rendered=sum(_rendered_frames(c) for c in items),
            node_seconds=math.fsum(c.node_seconds for c in items),
            cost_usd=math.fsum(c.cost_usd for c in items),
        )
        return cls(layout, blocks, counts)

    # -- the mapping -----------------------------------------------------------------

    def __getitem__(self, chunk_id: str) -> ChunkState:
        i = self._layout.index[chunk_id]
        size = self._layout.block
        return self._blocks[i // size][i % size]

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._layout.index

    def __iter__(self) -> Iterator[str]:
        return iter(self._layout.ids)

    def __len__(self) -> int:
        return len(self._layout.ids)

    def values(self) -> ValuesView[ChunkState]:
        return _Values(self)

    def items(self) -> ItemsView[str, ChunkState]:
        return _Items(self)

    def _in_order(self) -> Iterator[ChunkState]:
        for block in self._blocks:
            yield from block

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ChunkTable) and other._blocks is self._blocks:
            return True
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ChunkTable({len(self)} chunks)"

    # -- one chunk changed -----------------------------------------------------------

    def replace(self, chunk: ChunkState) -> ChunkTable[ChunkState]:
        """The table with one chunk (already in it) replaced: O(sqrt(chunks)) copied, counts moved."""
        layout = self._layout
        i = layout.index[chunk.plan.chunk_id]
        b, j = divmod(i, layout.block)
        block = self._blocks[b]
        old = block[j]
        blocks = (*self._blocks[:b], (*block[:j], chunk, *block[j + 1 :]), *self._blocks[b + 1 :])
        return ChunkTable(layout, blocks, self._moved(old, chunk))

    def _moved(self, old: ChunkState, new: ChunkState) -> _Counts:
        counts = self._counts
        by_status, by_shot = counts.by_status, counts.rendered_by_shot
        if old.status is not new.status:
            statuses = dict(by_status)
            statuses[old.status] -= 1
            statuses[new.status] = statuses.get(new.status, 0) + 1
            by_status = MappingProxyType(statuses)
            was, now = old.status is ChunkStatus.RENDERED, new.status is ChunkStatus.RENDERED
            if was != now:
                shots = dict(by_shot)
                shots[new.plan.shot] = shots.get(new.plan.shot, 0) + (1 if now else -1)
                by_shot = MappingProxyType(shots)
        return _Counts(
            by_status=by_status,
            rendered_by_shot=by_shot,
            frames_rendered=counts.frames_rendered - _rendered_frames(old) + _rendered_frames(new),
            node_seconds=counts.node_seconds + (new.node_seconds - old.node_seconds),
            cost_usd=counts.cost_usd + (new.cost_usd - old.cost_usd),
        )

    # -- what the counts answer ------------------------------------------------------

    def count(self, *statuses: ChunkStatus) -> int:
        return sum(self._counts.by_status.get(s, 0) for s in statuses)

    def shot_rendered(self, shot: str) -> bool:
        """Every chunk of the shot is rendered (and it has some)."""
        total = self._layout.shots.get(shot, 0)
        return total > 0 and self._counts.rendered_by_shot.get(shot, 0) == total

    def holding(self, shot: str, frame: int) -> ChunkState | None:
        """The chunk whose frame range holds the frame, found by bisection."""
        spans = self._layout.holding.get(shot)
        if spans is None:
            return None
        firsts, lasts, ids = spans
        k = bisect.bisect_right(firsts, frame) - 1  # the chunks of one shot never overlap
        return self[ids[k]] if k >= 0 and lasts[k] >= frame else None

    @property
    def frames_total(self) -> int:
        return self._layout.frames_total

    @property
    def frames_rendered(self) -> int:
        return self._counts.frames_rendered

    @property
    def node_seconds(self) -> float:
        return self._counts.node_seconds

    @property
    def cost_usd(self) -> float:
        return self._counts.cost_usd


class _Values(ValuesView[ChunkState]):
    _mapping: ChunkTable[ChunkState]

    def __iter__(self) -> Iterator[ChunkState]:
        return self._mapping._in_order()


class _Items(ItemsView[str, ChunkState]):
    _mapping: ChunkTable[ChunkState]

    def __iter__(self) -> Iterator[tuple[str, ChunkState]]:
        return zip(self._mapping, self._mapping._in_order())
