"""Group commit: what arrives together is one log transaction, durable before any node is called.

The coordinator runs in this process on the real SQLite log; render nodes
are stand-ins that look at the log through a second connection (which sees
committed rows only) when they are called, or that kill the process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from nodes.pool import NodeSlot
from nodes.storage import open_store
from orchestrator.config.settings import FarmSettings
from orchestrator.coordinator.interpreter import Coordinator, Nodes
from orchestrator.core import events as ev
from orchestrator.eventlog.sqlite import SqliteEventLog
from orchestrator.eventlog.verify import LOG_NAME
from tests.builders import SID, sequence, shot
from tests.orchestrator.test_logcheck import LocalPools

REPO = Path(__file__).resolve().parents[2]


def committed(path: Path, kind: str) -> int:
    """How many events of a kind another process reading the log would see now."""
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM events WHERE type = ?", (kind,)).fetchone()[0])
    finally:
        db.close()


class HeldNode:
    """A render node whose answers the test hands out; it notes what the log held when it was called."""

    def __init__(self, log_path: Path, calls: list[tuple[str, int]], answers: dict[str, asyncio.Future]):
        self.log_path, self.calls, self.answers = log_path, calls, answers

    @property
    def render(self) -> HeldNode:
        return self

    def remote(self, order: Any) -> asyncio.Future:
        self.calls.append((order.chunk_id, committed(self.log_path, "ChunkStarted")))
        future = self.answers[order.chunk_id] = asyncio.get_running_loop().create_future()
        return future


class HeldPools:
    def __init__(self, log_path: Path):
        self.calls: list[tuple[str, int]] = []
        self.answers: dict[str, asyncio.Future] = {}
        self.log_path = log_path

    def start(self, slots: list[NodeSlot], gpus: int) -> Nodes:
        node = HeldNode(self.log_path, self.calls, self.answers)
        return Nodes({s.node_id: node for s in slots}, None, None)

    def cancel(self, call: Any) -> None:
        pass


def count_commits(log: SqliteEventLog) -> list[str]:
    seen: list[str] = []
    log._db.set_trace_callback(lambda sql: seen.append(sql) if sql.strip().upper() == "COMMIT" else None)
    return seen


def eight_chunks() -> dict[str, Any]:
    return sequence(shot("sh010", 1001, 1008)).model_dump(mode="json")


def test_a_submission_and_all_it_dispatches_are_one_transaction_committed_before_any_node_is_called(tmp_path):
    path = tmp_path / LOG_NAME
    pools = HeldPools(path)

    async def main() -> None:
        log = SqliteEventLog(path)
        coord = Coordinator(log, open_store(str(tmp_path)), pools, FarmSettings(chunk_frames=1))
        await coord.start(cpus=2, gpus=0)
        commits = count_commits(log)
        await coord.submit(eight_chunks())
        assert len(commits) == 1
        for _ in range(5):
            await asyncio.sleep(0)  # the render effects start
        await coord.shutdown()

    asyncio.run(main())
    started = committed(path, "ChunkStarted")
    assert started == 4  # 2 nodes x 2 slots
    assert committed(path, "SequenceSubmitted") == committed(path, "ShotsPlanned") == 1
    assert len(pools.calls) == started
    assert all(seen == started for _, seen in pools.calls), "a node was called before its ChunkStarted was committed"


def test_node_answers_that_arrive_together_are_recorded_in_one_transaction_with_what_they_lead_to(tmp_path):
    from nodes.protocol import ChunkResult

    path = tmp_path / LOG_NAME
    pools = HeldPools(path)

    async def main() -> None:
        log = SqliteEventLog(path)
        coord = Coordinator(log, open_store(str(tmp_path)), pools, FarmSettings(chunk_frames=1))
        await coord.start(cpus=2, gpus=0)
        await coord.submit(eight_chunks())
        for _ in range(5):
            await asyncio.sleep(0)
        first = dict(pools.answers)
        assert len(first) == 4
        commits = count_commits(log)
        for chunk_id, future in first.items():
            future.set_result(ChunkResult(chunk_id=chunk_id, attempt=1, frames=(), seconds=0.1, device="cpu"))
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(commits) == 1, "four answers, four renders recorded and four new dispatches: one commit"
        assert committed(path, "ChunkRendered") == 4 and committed(path, "ChunkStarted") == 8
        assert len(pools.answers) == 8
        await coord.shutdown()

    asyncio.run(main())


_KILLED_MID_BATCH = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from nodes.pool import NodeSlot
    from nodes.storage import open_store
    from orchestrator.config.settings import FarmSettings
    from orchestrator.coordinator.interpreter import Coordinator, Nodes
    from orchestrator.eventlog.sqlite import SqliteEventLog

    class Dies:
        # The first node call is the first effect of the submission's batch: the process dies there.
        def __getattr__(self, name):
            return self
        def remote(self, *args):
            os.kill(os.getpid(), signal.SIGKILL)

    class Pools:
        def start(self, slots, gpus):
            return Nodes({s.node_id: Dies() for s in slots}, Dies(), Dies())
        def cancel(self, call):
            pass

    async def main(out, spec):
        log = SqliteEventLog(os.path.join(out, "shotfarm.db"))
        coord = Coordinator(log, open_store(out), Pools(), FarmSettings(chunk_frames=2))
        await coord.start(cpus=2, gpus=0)
        await coord.submit(spec)
        await asyncio.sleep(1.0)

    import json
    asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))
    """
)


def test_a_kill_between_a_batch_commit_and_its_effects_replays_and_finishes_with_every_chunk_rendered_once(tmp_path):
    import json

    out = tmp_path / "out"
    out.mkdir()
    spec = sequence(shot("sh010", 1001, 1004), shot("sh020", 1005, 1008, angle=60)).model_dump(mode="json")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_MID_BATCH, str(out), json.dumps(spec)], cwd=REPO, env=env, capture_output=True, timeout=600
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    path = out / LOG_NAME
    # The whole batch is there, and nothing after it: the node was never answered.
    assert committed(path, "SequenceSubmitted") == committed(path, "ShotsPlanned") == 1
    assert committed(path, "ChunkStarted") == 4
    assert committed(path, "ChunkRendered") == 0

    async def resume() -> Coordinator:
        coord = Coordinator(SqliteEventLog(path), open_store(str(out)), LocalPools(str(out)), FarmSettings(chunk_frames=2))
        await coord.start(cpus=2, gpus=0)
        await coord.submit(spec)
        for _ in range(30_000):  # a bound, not a measure: a loaded machine may take minutes
            if coord.state.sequences[SID].status.value in ("completed", "failed"):
                break
            await asyncio.sleep(0.01)
        await coord.shutdown()
        return coord

    coord = asyncio.run(resume())
    assert coord.state.sequences[SID].status.value == "completed", coord.state.sequences[SID].reason
    log = SqliteEventLog(path)
    records = [e for _, e in log.read()]
    log.close()
    rendered = [e for e in records if isinstance(e, ev.ChunkRendered)]
    chunks = coord.state.sequences[SID].chunks
    assert sorted(e.chunk_id for e in rendered) == sorted(chunks), "every chunk rendered exactly once"
    assert all(c.attempt == 2 for c in chunks.values()), "attempt 1 of each started chunk died with the process"
