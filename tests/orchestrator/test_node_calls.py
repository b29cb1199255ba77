"""How chunks travel to render nodes: the chunks one batch sends a node share one call.

The coordinator runs in this process on the real SQLite log; the render
nodes are stand-ins whose answers the test hands out, with the calling
interface of nodes.actors.render.RenderNode (render, render_many).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from nodes.pool import NodeSlot
from nodes.protocol import ChunkOrder, ChunkResult
from nodes.storage import open_store
from orchestrator.config.settings import FarmSettings
from orchestrator.coordinator.interpreter import Coordinator, Nodes
from orchestrator.core import events as ev
from orchestrator.eventlog.sqlite import SqliteEventLog
from orchestrator.eventlog.verify import LOG_NAME
from tests.builders import SID, sequence, shot
from tests.orchestrator.test_group_commit import committed


class Call:
    def __init__(self, method: str, orders: list[ChunkOrder], committed_started: int):
        self.method, self.orders, self.committed_started = method, orders, committed_started
        self.answer: asyncio.Future = asyncio.get_running_loop().create_future()

    @property
    def chunk_ids(self) -> list[str]:
        return [o.chunk_id for o in self.orders]


class Method:
    def __init__(self, node: HeldNode, name: str):
        self.node, self.name = node, name

    def remote(self, first: Any, *rest: Any) -> asyncio.Future:
        orders = list(first) if self.name == "render_many" else [first]
        call = Call(self.name, orders, committed(self.node.log_path, "ChunkStarted"))
        self.node.calls.append(call)
        return call.answer


class HeldNode:
    def __init__(self, log_path: Path, calls: list[Call]):
        self.log_path, self.calls = log_path, calls
        self.render, self.render_many = Method(self, "render"), Method(self, "render_many")


class HeldPools:
    def __init__(self, log_path: Path):
        self.log_path = log_path
        self.calls: list[Call] = []
        self.cancelled: list[Any] = []

    def start(self, slots: list[NodeSlot], gpus: int) -> Nodes:
        return Nodes({s.node_id: HeldNode(self.log_path, self.calls) for s in slots}, None, None)

    def cancel(self, call: Any) -> None:
        self.cancelled.append(call)


def result(order: ChunkOrder) -> ChunkResult:
    return ChunkResult(chunk_id=order.chunk_id, attempt=order.attempt, frames=(), seconds=0.01, device="cpu")


async def turns(n: int = 20) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def run(
    tmp_path: Path,
    body: Callable[[Coordinator, Any], Awaitable[None]],
    pools: HeldPools | None = None,
    settings: FarmSettings | None = None,
) -> list[ev.Record]:
    """Two nodes of two slots, eight one-frame chunks submitted; `body` plays the nodes; the log's records after."""
    path = tmp_path / LOG_NAME
    pools = pools or HeldPools(path)
    settings = settings or FarmSettings(chunk_frames=1)

    async def main() -> None:
        coord = Coordinator(SqliteEventLog(path), open_store(str(tmp_path)), pools, settings)
        await coord.start(cpus=2, gpus=0)
        await coord.submit(sequence(shot("sh010", 1001, 1008)).model_dump(mode="json"))
        await turns()
        await body(coord, pools)
        await coord.shutdown()

    asyncio.run(main())
    log = SqliteEventLog(path)
    try:
        return [record for _, record in log.read()]
    finally:
        log.close()


def test_the_chunks_one_batch_sends_a_node_travel_in_one_call_after_the_batch_is_committed(tmp_path):
    async def body(coord: Coordinator, pools: HeldPools) -> None:
        assert [c.method for c in pools.calls] == ["render_many", "render_many"]
        assert sorted(len(c.orders) for c in pools.calls) == [2, 2]
        assert all(c.committed_started == 4 for c in pools.calls), "a node was called before its ChunkStarted was committed"

    run(tmp_path, body)


def test_every_chunk_a_call_rendered_is_recorded_and_its_node_gets_the_next_two_in_one_call(tmp_path):
    async def body(coord: Coordinator, pools: HeldPools) -> None:
        first = pools.calls[0]
        first.answer.set_result([result(o) for o in first.orders])
        await turns()
        assert committed(tmp_path / LOG_NAME, "ChunkRendered") == 2
        (next_call,) = pools.calls[2:]
        assert next_call.method == "render_many" and len(next_call.orders) == 2

    records = run(tmp_path, body)
    assert len([r for r in records if isinstance(r, ev.ChunkRendered)]) == 2


def test_chunks_a_call_did_not_render_are_sent_again_alone_at_the_same_attempt(tmp_path):
    carried: list[str] = []

    async def body(coord: Coordinator, pools: HeldPools) -> None:
        first = pools.calls[0]
        carried.extend(first.chunk_ids)
        first.answer.set_result([result(first.orders[0])])  # its time was up after the first chunk
        await turns()
        again = [c for c in pools.calls[2:] if set(c.chunk_ids) & set(carried)]
        assert [(c.method, c.chunk_ids) for c in again] == [("render", carried[1:])]
        assert again[0].orders[0].attempt == first.orders[1].attempt == 1
        again[0].answer.set_result(result(again[0].orders[0]))
        await turns()

    records = run(tmp_path, body)
    started = [r.chunk_id for r in records if isinstance(r, ev.ChunkStarted)]
    rendered = [r.chunk_id for r in records if isinstance(r, ev.ChunkRendered)]
    assert len(set(started)) == len(started), "nothing was started twice"
    assert set(carried) <= set(rendered)


def test_a_call_that_fails_fails_every_chunk_it_carried(tmp_path):
    async def body(coord: Coordinator, pools: HeldPools) -> None:
        first = pools.calls[0]
        first.answer.set_exception(RuntimeError("the device fell off the bus"))
        await turns()

    records = run(tmp_path, body)
    failed = [r for r in records if isinstance(r, ev.ChunkFailed)]
    assert len(failed) == 2 and {r.node_id for r in failed} == {failed[0].node_id}
    assert all("the device fell off the bus" in r.error and r.retryable for r in failed)


def test_a_call_is_taken_back_once_every_chunk_it_carries_is_and_not_before(tmp_path):
    async def body(coord: Coordinator, pools: HeldPools) -> None:
        calls = [c.answer for c in pools.calls]
        await coord.cancel(SID)  # each running chunk is taken back, one Preempt each
        await turns()
        assert sorted(map(id, pools.cancelled)) == sorted(map(id, calls)), "each call once, after both its chunks"

    records = run(tmp_path, body)
    assert len([r for r in records if isinstance(r, ev.ChunkPreempted)]) == 4
