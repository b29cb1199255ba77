"""Quote and chunk sizing: predictions from the runtime model, history and calibration."""

from __future__ import annotations

import argparse

import pytest
import yaml

from orchestrator.core.evolve import replay
from orchestrator.eventlog.sqlite import SqliteEventLog
from orchestrator.interfaces.quote import add_arguments, calibrate, history, main, predict, quote
from orchestrator.scheduling.chunk_size import plan_sized, typical_speed
from orchestrator.scheduling.farm import FarmConfig, NodeClass
from orchestrator.scheduling.runtime import RuntimeModel, key_of
from pipelines.chunking import frame_cost, plan_chunks
from tests.builders import SID, planned, pool, rendered, sequence, shot, spec, started, submitted

FARM = FarmConfig(
    classes=(NodeClass(name="fast", speed=1.0, usd_per_hour=3600.0), NodeClass(name="slow", speed=0.5, usd_per_hour=900.0))
)


def measured(seq, seconds_per_unit: float = 0.001) -> RuntimeModel:
    key = key_of("pathtracer", seq.resolution, seq.samples)
    return RuntimeModel().observe(key, "fast", 1.0, seconds_per_unit * 1000, 1000)


def test_a_quote_shares_work_by_throughput_and_prices_each_class():
    seq = sequence()
    q = quote(seq, FARM, measured(seq), {"fast": 1, "slow": 2}, chunk_frames=4)
    units = sum(c.cost for c in plan_chunks(seq, 4))
    # fast does 1000 units/s, the two slow nodes 500 each: half the work each side.
    assert q.by_class["fast"][0] == pytest.approx(units / 2 * 0.001)
    assert q.by_class["slow"][0] == pytest.approx(units / 2 * 0.002)
    assert q.usd == pytest.approx(q.by_class["fast"][0] * 1.0 + q.by_class["slow"][0] * 0.25)
    assert q.wall_seconds == pytest.approx(units / 2000)
    assert q.chunks == 3 and q.basis == "history"


def test_wall_time_is_never_below_the_longest_chunk_on_the_fastest_class():
    seq = sequence(shot("sh010", 1001, 1004))
    q = quote(seq, FARM, measured(seq), {"fast": 100, "slow": 100}, chunk_frames=4)
    assert q.wall_seconds == pytest.approx(plan_chunks(seq, 4)[0].cost * 0.001)


def test_a_pool_that_cannot_run_the_sequence_is_refused():
    small = FarmConfig(classes=(NodeClass(name="small", max_pixels=10),))
    with pytest.raises(ValueError, match="no node in the pool can run demo:sq010"):
        quote(sequence(), small, RuntimeModel(), {"small": 4})


def test_history_is_learned_from_an_event_log_read_only(tmp_path):
    path = tmp_path / "shotfarm.db"
    log = SqliteEventLog(path)
    events = [pool(), submitted(), planned()]
    for e in events:
        log.append(e)
    state = replay(events)
    for cid in list(state.sequences[SID].chunks)[:2]:
        log.append(started(cid))
        log.append(rendered(state, cid))
    log.close()
    model = history(path, FarmConfig.local())
    assert model.knows("pathtracer") and model.observations() == 2
    assert not history(tmp_path / "none.db", FarmConfig.local()).knows("pathtracer")


def test_calibration_renders_sample_frames_and_learns_the_engine():
    seq = sequence(shot("sh010", 1001, 1004), shot("sh020", 1005, 1008, samples=4))
    model, basis = calibrate(seq, FarmConfig.local(), frames=2)
    assert model.observations() == 2 and "calibration: 2 frame(s)" in basis
    assert model.seconds_per_unit(key_of("pathtracer", seq.resolution, 4), "cpu", 1.0) > 0


def test_predict_uses_history_then_calibration_then_the_prior(tmp_path):
    seq = sequence()
    calibrated = predict(seq, None, tmp_path, cpus=2, frames=1)
    assert calibrated.basis.startswith("calibration") and calibrated.usd > 0
    assert predict(seq, None, None, cpus=2, frames=0).basis.startswith("prior")


def test_chunks_are_sized_toward_the_target_once_the_engine_is_measured():
    seq = sequence(shot("sh010", 1001, 1040))
    target = FARM.model_copy(update={"target_chunk_seconds": 2.0})
    per_frame = frame_cost(seq, seq.shots[0])
    model = measured(seq, seconds_per_unit=0.5 / per_frame)  # half a second a frame on "fast"
    assert plan_sized(seq, RuntimeModel(), target, "pathtracer", 8, {"fast": 1}) == plan_chunks(seq, 8)
    chunks = plan_sized(seq, model, target, "pathtracer", 8, {"fast": 1})
    assert {len(c.frames) for c in chunks} == {4}
    untargeted = plan_sized(seq, model, FARM, "pathtracer", 8, {"fast": 1})
    assert untargeted == plan_chunks(seq, 8)


def test_the_typical_node_is_weighted_by_the_work_each_class_takes():
    assert typical_speed(FARM, frozenset({"fast", "slow"}), {"fast": 1, "slow": 2}) == pytest.approx(0.75)
    assert typical_speed(FARM, frozenset({"slow"}), {}) == pytest.approx(0.5)


def args_for(*argv) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args([str(a) for a in argv])


def test_the_quote_command_prints_the_prediction(tmp_path, capsys):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec()))
    assert main(args_for(path, "--calibrate", 1, "--cpus", 2)) == 0
    out = capsys.readouterr().out
    assert "demo:sq010" in out and "predicted" in out and "calibration" in out


def test_the_quote_command_refuses_a_farm_that_cannot_run_a_shot(tmp_path, capsys):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec()))
    farm = tmp_path / "farm.yaml"
    farm.write_text(yaml.safe_dump({"classes": [{"name": "a10g", "count": 2, "usd_per_hour": 1.0, "max_pixels": 100}]}))
    assert main(args_for(path, "--farm", farm)) == 2
    assert "no node class can run shot sh010" in capsys.readouterr().err
