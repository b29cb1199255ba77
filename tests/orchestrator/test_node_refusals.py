"""A render node that refuses chunks because its machine drains: the coordinator records it, sends it
nothing more, queues the refused chunks again as if never sent, and takes the node back once it
answers from a machine that does not drain.

The coordinator runs in this process on the real SQLite log, with the stand-in nodes of
tests/orchestrator/test_node_calls.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from nodes.errors import Draining
from nodes.pool import NodeSlot
from orchestrator.config.settings import FarmSettings, TimeoutSettings
from orchestrator.coordinator.interpreter import Coordinator, Nodes
from orchestrator.core import events as ev
from orchestrator.eventlog.verify import LOG_NAME
from tests.orchestrator.test_node_calls import HeldNode, HeldPools, result, run, turns


class Asked:
    """A node's `draining` method whose answers the test hands out, one question at a time."""

    def __init__(self) -> None:
        self.questions: list[asyncio.Future] = []

    def remote(self) -> asyncio.Future:
        self.questions.append(asyncio.get_running_loop().create_future())
        return self.questions[-1]


class DrainingPools(HeldPools):
    def __init__(self, log_path: Path):
        super().__init__(log_path)
        self.asked: dict[str, Asked] = {}

    def start(self, slots: list[NodeSlot], gpus: int) -> Nodes:
        nodes = {}
        for s in slots:
            node = nodes[s.node_id] = HeldNode(self.log_path, self.calls)
            node.draining = self.asked[s.node_id] = Asked()  # type: ignore[attr-defined]
        return Nodes(nodes, None, None)


def play(tmp_path: Path, body) -> list[ev.Record]:
    """Two nodes of two slots, eight one-frame chunks; questions asked again at once (a tiny call timeout)."""
    pools = DrainingPools(tmp_path / LOG_NAME)
    return run(tmp_path, body, pools, FarmSettings(chunk_frames=1, timeouts=TimeoutSettings(call=0.01)))


def node_of(coord: Coordinator, chunk_id: str) -> str:
    """The node the chunk was sent to."""
    (seq,) = coord.state.sequences.values()
    node_id = seq.chunks[chunk_id].node_id
    assert node_id is not None
    return node_id


async def settle() -> None:
    await turns(50)
    await asyncio.sleep(0.05)
    await turns(50)


def test_a_refused_call_is_recorded_once_and_its_chunks_render_on_the_other_node_as_first_attempts(tmp_path):
    refused: list[str] = []
    draining_node: list[str] = []

    async def body(coord: Coordinator, pools: DrainingPools) -> None:
        first, other = pools.calls[0], pools.calls[1]
        refused.extend(first.chunk_ids)
        draining_node.append(node_of(coord, refused[0]))
        first.answer.set_exception(Draining("its machine is being stopped"))
        await settle()
        assert len(pools.calls) == 2, "nothing more was sent while the other node's slots are full"
        other.answer.set_result([result(o) for o in other.orders])
        await settle()
        (third,) = pools.calls[2:]
        assert third.chunk_ids == refused, "the refused chunks go first, in timeline order"
        assert [o.attempt for o in third.orders] == [1, 1], "as if never sent"
        third.answer.set_result([result(o) for o in third.orders])
        await settle()

    records = play(tmp_path, body)
    (drained,) = [r for r in records if isinstance(r, ev.NodeDraining)]
    assert drained.node_id == draining_node[0]
    assert sorted(r.chunk_id for r in records if isinstance(r, ev.ChunkRefused)) == sorted(refused)
    assert not [r for r in records if isinstance(r, ev.ChunkFailed | ev.ChunkPreempted)]
    after = records.index(drained)
    assert not [r for r in records[after:] if isinstance(r, ev.ChunkStarted) and r.node_id == drained.node_id]
    rendered = [r.chunk_id for r in records if isinstance(r, ev.ChunkRendered)]
    assert len(rendered) == len(set(rendered)) and set(refused) <= set(rendered)


def test_the_node_is_taken_back_once_it_answers_from_a_machine_that_does_not_drain(tmp_path):
    async def body(coord: Coordinator, pools: DrainingPools) -> None:
        first = pools.calls[0]
        node_id = node_of(coord, first.chunk_ids[0])
        first.answer.set_exception(Draining("its machine is being stopped"))
        await settle()
        asked = pools.asked[node_id]
        assert coord.state.nodes[node_id].draining
        asked.questions[-1].set_result(True)  # still in its machine's last minutes
        await settle()
        assert coord.state.nodes[node_id].draining and len(asked.questions) == 2
        asked.questions[-1].set_result(False)  # restarted on another machine
        await settle()
        assert not coord.state.nodes[node_id].draining
        assert [c for c in pools.calls[2:]], "it takes chunks again"

    records = play(tmp_path, body)
    assert [type(r).__name__ for r in records if isinstance(r, ev.NodeDraining | ev.NodeJoined)] == ["NodeDraining", "NodeJoined"]
