"""A sequence that ends, however it ends, is let go by the master node: the encodes it fed
as segments were stitched stop, rather than wait on threads of their own for frames that will
never come (nodes.actors.master.MasterNode.forget).

The coordinator runs in this process on the real SQLite log, with the stand-in nodes of
tests/orchestrator/test_node_calls.py.
"""

from __future__ import annotations

import asyncio

from nodes.pool import NodeSlot
from orchestrator.coordinator.interpreter import Nodes
from orchestrator.eventlog.verify import LOG_NAME
from tests.builders import sequence, shot
from tests.orchestrator.test_node_calls import HeldNode, HeldPools, run, turns


class Forgets:
    """The master node's `forget` method: the sequences it was told to let go of."""

    def __init__(self) -> None:
        self.told: list[str] = []

    def remote(self, sequence_id: str) -> asyncio.Future:
        self.told.append(sequence_id)
        answer = asyncio.get_running_loop().create_future()
        answer.set_result(True)
        return answer


class Master:
    def __init__(self) -> None:
        self.forget = Forgets()


class PoolsWithMaster(HeldPools):
    def __init__(self, log_path):
        super().__init__(log_path)
        self.master = Master()

    def start(self, slots: list[NodeSlot], gpus: int) -> Nodes:
        return Nodes({s.node_id: HeldNode(self.log_path, self.calls) for s in slots}, self.master, None)


def test_a_cancelled_sequence_is_let_go_by_the_master_node_once_and_a_running_one_is_not(tmp_path):
    pools = PoolsWithMaster(tmp_path / LOG_NAME)
    told: dict[str, list[str]] = {}

    async def body(coord, pools: PoolsWithMaster) -> None:
        (first,) = coord.state.sequences
        other = await coord.submit(sequence(shot("sh010", 1001, 1004), sequence="sq020").model_dump(mode="json"))
        await turns()
        told["before"] = list(pools.master.forget.told)
        await coord.cancel(first)
        await turns()
        told["after"], told["first"], told["other"] = list(pools.master.forget.told), [first], [other]

    run(tmp_path, body, pools)
    assert told["before"] == []
    assert told["after"] == told["first"]  # once, and not the sequence still rendering
