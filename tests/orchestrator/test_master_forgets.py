"""A sequence that ends, however it ends, is let go by the master node: the encodes it fed
as segments were stitched stop, rather than wait on threads of their own for frames that will
never come (nodes.actors.master.MasterNode.forget).

The coordinator runs in this process on the real SQLite log, with the stand-in nodes of
tests/orchestrator/test_node_calls.py.
"""

from __future__ import annotations

import asyncio

from nodes.pool import NodeSlot
from nodes.storage import open_store
from orchestrator.config.settings import FarmSettings
from orchestrator.coordinator.interpreter import Coordinator, Nodes
from orchestrator.eventlog.sqlite import SqliteEventLog
from orchestrator.eventlog.verify import LOG_NAME
from tests.builders import sequence, shot
from tests.orchestrator.test_node_calls import HeldNode, HeldPools, turns


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
    path = tmp_path / LOG_NAME
    pools = PoolsWithMaster(path)

    async def main() -> list[list[str]]:
        coord = Coordinator(SqliteEventLog(path), open_store(str(tmp_path)), pools, FarmSettings(chunk_frames=1))
        await coord.start(cpus=2, gpus=0)
        first = await coord.submit(sequence(shot("sh010", 1001, 1004)).model_dump(mode="json"))
        other = await coord.submit(sequence(shot("sh010", 1001, 1004), sequence="sq020").model_dump(mode="json"))
        await turns()
        before = list(pools.master.forget.told)
        await coord.cancel(first)
        await turns()
        after = list(pools.master.forget.told)
        await coord.shutdown()
        assert other not in after
        return [before, after, [first]]

    before, after, first = asyncio.run(main())
    assert before == []
    assert after == first
