"""The quote a render prints: from history, else from the farm's own first chunks (no calibration render up front)."""

from __future__ import annotations

import pytest

from orchestrator.core.evolve import replay
from orchestrator.eventlog.sqlite import LOG_NAME, SqliteEventLog
from orchestrator.interfaces.quote import RenderQuote, predict
from orchestrator.scheduling.farm import FarmConfig, NodeClass
from tests.builders import SID, planned, pool, rendered, sequence, started, submitted


def record_first_chunks(path, n: int) -> None:
    """The log as a farm leaves it once its first `n` chunks are rendered."""
    log = SqliteEventLog(path)
    events = [pool(), submitted(), planned()]
    for e in events:
        log.append(e)
    state = replay(events)
    for cid in list(state.sequences[SID].chunks)[:n]:
        log.append(started(cid))
        log.append(rendered(state, cid))
    log.close()


def test_without_history_the_quote_waits_on_the_prior_and_renders_nothing_itself(tmp_path):
    quoted = RenderQuote(sequence(), None, tmp_path, None, 2, "pathtracer", 4)
    assert quoted.pending and quoted.quote.basis.startswith("prior")
    quoted.observe(0)  # nothing rendered yet: still the prior, still waiting
    assert quoted.pending and quoted.quote.basis.startswith("prior")
    assert not (tmp_path / LOG_NAME).exists()  # reading the log never creates one


def test_the_farms_first_chunks_calibrate_the_quote_once(tmp_path):
    quoted = RenderQuote(sequence(), None, tmp_path, None, 2, "pathtracer", 4)
    record_first_chunks(tmp_path / LOG_NAME, 2)
    quoted.observe(2)
    assert not quoted.pending
    assert quoted.quote.basis == "calibration: the farm's first 2 chunk(s) on this machine"
    from_log = predict(sequence(), None, tmp_path, cpus=2, frames=0, chunk_frames=4)
    assert quoted.quote.node_seconds == pytest.approx(from_log.node_seconds) and quoted.quote.usd > 0
    first = quoted.quote
    quoted.observe(3)  # made once, from the first chunks: later progress leaves it as it was
    assert quoted.quote is first


def test_with_history_in_the_log_the_quote_is_made_up_front_from_it(tmp_path):
    record_first_chunks(tmp_path / LOG_NAME, 2)
    quoted = RenderQuote(sequence(), None, tmp_path, None, 2, "pathtracer", 4)
    assert not quoted.pending and quoted.quote.basis == f"history in {tmp_path}"


def test_a_log_named_apart_from_the_output_folder_is_the_one_read(tmp_path):
    elsewhere = tmp_path / "backup.db"
    record_first_chunks(elsewhere, 1)
    quoted = RenderQuote(sequence(), None, tmp_path / "out", str(elsewhere), 2, "pathtracer", 4)
    assert quoted.quote.basis.startswith("history")


def test_a_farm_that_cannot_run_the_sequence_is_refused_before_anything_starts(tmp_path):
    small = FarmConfig(classes=(NodeClass(name="small", max_pixels=10),))
    with pytest.raises(ValueError, match="no node in the pool can run"):
        RenderQuote(sequence(), small, tmp_path, None, None, "pathtracer", 4)
