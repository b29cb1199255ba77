"""`shotfarm log verify` on a real farm's log: clean when it is, and every kind of damage named."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from nodes.actors.check import CheckNode
from nodes.actors.master import MasterNode
from nodes.actors.render import RenderNode
from nodes.pool import NodeSlot
from nodes.storage import open_store
from orchestrator.config.settings import FarmSettings
from orchestrator.coordinator.interpreter import Coordinator, Nodes
from orchestrator.core import events as ev
from orchestrator.eventlog.sqlite import SqliteEventLog
from orchestrator.eventlog.verify import LOG_NAME, log_verify_main, verify
from tests.builders import SID, sequence, shot


class _Call:
    def __init__(self, fn: Any):
        self.fn = fn

    def remote(self, *args: Any) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        try:
            future.set_result(self.fn(*args))
        except Exception as e:  # the coordinator classifies it, as it would a remote error
            future.set_exception(e)
        return future


class Local:
    """An actor handle stand-in: `handle.method.remote(...)` runs the method here."""

    def __init__(self, obj: Any):
        self.obj = obj

    def __getattr__(self, name: str) -> _Call:
        return _Call(getattr(self.obj, name))


class LocalPools:
    """Node pools in this process: the coordinator's NodePools protocol without Ray."""

    def __init__(self, store: str):
        self.store = store

    def start(self, slots: list[NodeSlot], gpus: int) -> Nodes:
        render = {s.node_id: Local(RenderNode(s.node_id, self.store)) for s in slots}
        return Nodes(render, Local(MasterNode(self.store)), Local(CheckNode(self.store)))

    def cancel(self, call: Any) -> None:
        pass  # a local call has already run


def run_farm(out: Path) -> None:
    """A whole sequence through the real Coordinator and node classes, in this process."""

    async def main() -> None:
        store = str(out)
        settings = FarmSettings(chunk_frames=2)
        coord = Coordinator(SqliteEventLog(out / LOG_NAME), open_store(store), LocalPools(store), settings)
        await coord.start(cpus=2, gpus=0)
        seq = sequence(shot("sh010", 1001, 1004, handles=1), shot("sh020", 1006, 1008, angle=60))
        await coord.submit(seq.model_dump(mode="json"))
        for _ in range(2000):
            if coord.state.sequences[SID].status.value in ("completed", "failed"):
                break
            await asyncio.sleep(0.01)
        await coord.shutdown()
        assert coord.state.sequences[SID].status.value == "completed", coord.state.sequences[SID].reason

    asyncio.run(main())


@pytest.fixture(scope="module")
def farm_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("farm")
    run_farm(out)
    return out


@pytest.fixture
def out(farm_out, tmp_path) -> Path:
    copy = tmp_path / "out"
    shutil.copytree(farm_out, copy)
    return copy


def events(out: Path) -> list[tuple[int, ev.Event]]:
    log = SqliteEventLog(out / LOG_NAME)
    found = list(log.read())
    log.close()
    return found


def master(out: Path) -> ev.MasterStitched:
    return next(e for _, e in events(out) if isinstance(e, ev.MasterStitched))


def errors(report) -> list[str]:
    return [str(f) for f in report.findings if f.level == "error"]


def raw(out: Path, sql: str, *args: object) -> None:
    db = sqlite3.connect(out / LOG_NAME)
    db.execute("DROP TRIGGER IF EXISTS events_no_update")
    db.execute("DROP TRIGGER IF EXISTS events_no_delete")
    db.execute(sql, args)
    db.commit()
    db.close()


def test_a_completed_farm_log_is_consistent_and_its_master_is_in_the_store(out):
    report = verify(out / LOG_NAME)
    assert report.ok, report.lines()
    assert report.findings == []
    [summary] = report.sequences
    m = master(out)
    assert summary.status == "completed" and summary.chunks_rendered == summary.chunks == 5
    assert summary.master_frames == len(m.frames) == 8  # 1001..1008, the gap at 1005 included
    assert summary.objects_checked == len(m.frames) + 1 + len(m.deliverables)
    assert report.lines()[-1] == "consistent"


def test_verify_reads_only_and_leaves_a_torn_last_record_for_the_farm_to_set_aside(out):
    raw(out, "UPDATE events SET body = substr(body, 1, 20) WHERE seq = (SELECT max(seq) FROM events)")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and not p.name.endswith("-shm")}
    report = verify(out / LOG_NAME)
    assert report.ok
    assert [f.level for f in report.findings] == ["warning"] and "torn last record" in str(report.findings[0])
    assert {p: p.read_bytes() for p in before} == before


def test_a_quarantined_record_is_reported_and_the_rest_still_checks_out(out):
    last = events(out)[-1][0]
    raw(out, "UPDATE events SET body = substr(body, 1, 20) WHERE seq = ?", last)
    SqliteEventLog(out / LOG_NAME).close()  # the farm opening the log sets the torn record aside
    report = verify(out / LOG_NAME)
    assert report.quarantined == 1
    assert [str(f) for f in report.findings if f.level == "warning"] == [
        f"warning seq {last}: SequenceCompleted record set aside: torn last record: its body is not a complete JSON document"
    ]
    assert report.ok and report.sequences[0].status == "stitching"  # completion is re-recorded on resume


def test_an_altered_master_frame_in_the_store_is_named(out):
    frame = master(out).frames[3]
    path = out / frame.key
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    (out / master(out).frames[5].key).unlink()
    report = verify(out / LOG_NAME)
    assert not report.ok
    found = errors(report)
    assert len(found) == 2
    assert frame.key in found[0] and "the log recorded" in found[0]
    assert f"{master(out).frames[5].key} is missing from the store" in found[1]


def test_an_illegal_transition_is_a_finding_and_its_sequence_is_set_aside_as_the_farm_would(out):
    log = SqliteEventLog(out / LOG_NAME)
    chunk = next(e for _, e in log.read() if isinstance(e, ev.ChunkRendered))
    seq = log.append(
        ev.ChunkStarted(at=9.0, sequence_id=SID, chunk_id=chunk.chunk_id, attempt=7, node_id="cpu-0", gpu_class="cpu")
    )
    log.close()
    report = verify(out / LOG_NAME)
    assert errors(report) == [
        f"error   seq {seq} {SID}: ChunkStarted cannot be folded (IllegalTransition: chunk {chunk.chunk_id}: "
        f"attempt 7 follows attempt 1); the farm sets {SID} aside from here"
    ]
    assert report.sequences[0].status == "failed"


def test_a_frame_key_recorded_by_two_renders_is_a_finding(out):
    # Attempts write apart, so a key recorded twice means one attempt overwrote another's frames.
    first = next(e for _, e in events(out) if isinstance(e, ev.ChunkRendered))
    log = SqliteEventLog(out / LOG_NAME)
    seq = log.append(first.model_copy(update={"attempt": 2}))
    log.close()
    report = verify(out / LOG_NAME)
    assert any(f"{first.frames[0].key} was already recorded by the render at seq" in e and f"seq {seq}" in e for e in errors(report))


def test_a_damaged_or_missing_record_in_the_middle_is_an_error(out):
    raw(out, "UPDATE events SET body = replace(body, '\"cpu\"', '\"gpu\"') WHERE seq = 4")
    raw(out, "DELETE FROM events WHERE seq IN (5, 6)")
    report = verify(out / LOG_NAME)
    found = errors(report)
    assert any(e.startswith("error   seq 4") and "does not match its digest" in e for e in found)
    assert any(e.startswith("error   seq 7") and "records 5..6 are gone and not in the quarantine" in e for e in found)


def test_columns_that_disagree_with_the_body_are_an_error(out):
    raw(out, "UPDATE events SET type = 'ChunkFailed' WHERE seq = 2")
    assert any("columns say ChunkFailed" in e for e in errors(verify(out / LOG_NAME)))


def test_a_completed_sequence_without_a_master_is_an_error(out):
    stitched = next(s for s, e in events(out) if isinstance(e, ev.MasterStitched))
    raw(out, "DELETE FROM events WHERE seq = ?", stitched)
    found = errors(verify(out / LOG_NAME))
    assert any(e.endswith(f"{SID}: completed without a MasterStitched") for e in found)
    assert any(f"records {stitched}..{stitched} are gone" in e for e in found)


def _args(out: Path, store: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(out=out, store=store)


def test_the_command_exits_0_when_consistent_1_on_problems_2_on_bad_input(out, tmp_path, capsys, monkeypatch):
    assert log_verify_main(_args(out)) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "consistent"
    (out / master(out).frames[0].key).unlink()
    assert log_verify_main(_args(out)) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "1 problem found"
    assert log_verify_main(_args(tmp_path / "nowhere")) == 2
    assert "no event log there" in capsys.readouterr().err
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / LOG_NAME).write_bytes(b"not sqlite at all, not even close" * 10)
    assert log_verify_main(_args(tmp_path / "junk")) == 2
    assert "not an SQLite database" in capsys.readouterr().err
    for name in ("SHOTFARM_S3_ENDPOINT", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    assert log_verify_main(_args(out, "s3://bucket-name/p")) == 2
    assert "SHOTFARM_S3_ENDPOINT" in capsys.readouterr().err


def test_the_log_name_is_the_embedded_farms(out):
    from orchestrator.interfaces.embedded import LOG_NAME as EMBEDDED

    assert LOG_NAME == EMBEDDED
