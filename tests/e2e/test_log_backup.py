"""Backups of a live event log that restore: SQLite's online backup (`shotfarm log backup`) and
PostgreSQL's pg_dump/pg_restore (docs/runbook.md), each taken mid-render, restored, and resumed
to a master byte-identical to a clean run's.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bench.chaos import master_differences
from orchestrator.eventlog.sqlite import LOG_NAME, SqliteEventLog
from orchestrator.eventlog.verify import verify
from tests.builders import planned, pool, submitted
from tests.e2e.test_postgres_log import (
    clean_master,  # noqa: F401
    cli,
    count,
    recorded_twice,
)
from tests.e2e.test_resume_after_sigkill import finish, kill_when, master_bytes, rendered_count, spec_path  # noqa: F401
from tests.pg_fixtures import create_database, database_url, drop_database, pg_url, server_settings  # noqa: F401


def shotfarm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator.interfaces.cli", *args], capture_output=True, text=True, timeout=120)


def test_a_backup_holds_what_was_committed_and_not_the_batch_still_open(tmp_path):
    log = SqliteEventLog(tmp_path / LOG_NAME)
    log.append(pool())
    (tmp_path / "backup").mkdir()
    with log.batch():
        log.append(submitted())
        done = shotfarm("log", "backup", str(tmp_path / LOG_NAME), str(tmp_path / "backup"))
    log.append(planned())
    log.close()
    assert done.returncode == 0, done.stderr
    copy = SqliteEventLog(tmp_path / "backup" / LOG_NAME)
    assert [e.type for _, e in copy.read()] == ["PoolStarted"]
    copy.close()


def test_a_backup_is_one_file_that_log_verify_accepts(tmp_path):
    log = SqliteEventLog(tmp_path / LOG_NAME)
    log.append_many([pool(), submitted(), planned()])
    done = shotfarm("log", "backup", str(tmp_path / LOG_NAME), str(tmp_path / "copy.db"))
    log.close()
    assert done.returncode == 0 and "copy.db" in done.stdout, done.stderr
    assert sqlite3.connect(tmp_path / "copy.db").execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    checked = shotfarm("log", "verify", "--log", str(tmp_path / "copy.db"), "--store", str(tmp_path))
    assert checked.returncode == 0 and "3 events" in checked.stdout and "consistent" in checked.stdout, checked.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["nowhere/shotfarm.db", "dest.db"], "no event log there"),
        (["postgresql://u@127.0.0.1/x", "dest.db"], "pg_dump"),
        (["{log}", "{log}"], "already exists"),
        (["{log}", "no/such/folder/x.db"], "no such folder"),
    ],
    ids=["no log", "a server log", "would overwrite", "no folder"],
)
def test_a_backup_that_cannot_be_made_is_a_clear_error(tmp_path, monkeypatch, args, message):
    log = SqliteEventLog(tmp_path / LOG_NAME)
    log.append(pool())
    log.close()
    monkeypatch.chdir(tmp_path)
    done = shotfarm("log", "backup", *(a.format(log=tmp_path / LOG_NAME) for a in args))
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_sqlite_backup_taken_mid_render_restores_and_resumes_to_the_clean_master(spec_path, clean_master, tmp_path):
    out, saved = tmp_path / "out", tmp_path / "backup"
    saved.mkdir()
    proc = cli(spec_path, out)
    kill_when(proc, lambda: rendered_count(out) >= 2 and shotfarm("log", "backup", str(out / LOG_NAME), str(saved)).returncode == 0)
    assert verify(saved / LOG_NAME, str(out)).ok
    # Restore: the farm is stopped; the backup replaces the log (and its WAL) in the output folder.
    for stale in out.glob(LOG_NAME + "*"):
        stale.unlink()
    shutil.copy(saved / LOG_NAME, out / LOG_NAME)
    assert "completed" in finish(cli(spec_path, out))
    assert master_differences(master_bytes(out), clean_master) == []
    assert verify(out / LOG_NAME).ok


@pytest.mark.slow
def test_a_postgresql_dump_taken_mid_render_restores_and_resumes_to_the_clean_master(spec_path, clean_master, tmp_path, pg_url):
    out, dump = tmp_path / "out", tmp_path / "shotfarm.dump"
    pg_bin = Path(server_settings()["PG_BIN"])
    proc = cli(spec_path, out, pg_url)

    def dumped() -> bool:
        if count(pg_url, "ChunkRendered") < 2:
            return False
        subprocess.run([pg_bin / "pg_dump", "--format=custom", "--file", dump, "--dbname", pg_url], check=True, timeout=60)
        return True

    kill_when(proc, dumped)
    restored = create_database()
    try:
        url = database_url(restored)
        subprocess.run([pg_bin / "pg_restore", "--no-owner", "--dbname", url, dump], check=True, timeout=60)
        assert verify(url, str(out)).ok
        assert "completed" in finish(cli(spec_path, out, url))
        assert master_differences(master_bytes(out), clean_master) == []
        assert recorded_twice(url) == [] and verify(url, str(out)).ok
    finally:
        drop_database(restored)
