"""Node classes on a real local Ray: pools placed by custom resources, work priced per class.

The session's Ray fakes two GPU classes with custom resources (gpu_class_h100,
gpu_class_l40s: one each), so placement, per-class pricing and the metrics
endpoint are checked end to end on a CPU-only machine.
"""

from __future__ import annotations

import re
import socket
import sqlite3
import urllib.request
from pathlib import Path

import pytest
import ray
import yaml
from prometheus_client.parser import text_string_to_metric_families
from ray.exceptions import GetTimeoutError

from nodes.actors.render import RenderNode
from nodes.pool import ClassPool, class_slots, start_render_nodes
from orchestrator.config.settings import FarmSettings
from orchestrator.core import events as ev
from orchestrator.interfaces.cli import main
from orchestrator.interfaces.embedded import LOG_NAME, render
from orchestrator.scheduling.farm import FarmConfig
from tests.builders import H100, L40S, accepted_renders, sequence, shot, spec

pytestmark = pytest.mark.ray



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def logged(out) -> list[ev.Event]:
    db = sqlite3.connect(f"file:{out / LOG_NAME}?mode=ro", uri=True)
    try:
        return [ev.event_from_json(body) for (body,) in db.execute("SELECT body FROM events ORDER BY seq")]
    finally:
        db.close()


def test_each_class_pool_takes_its_ray_resource_and_a_class_with_none_left_cannot_place_more(ray_session, tmp_path):
    pools = [ClassPool("h100", 1, "gpu_class_h100", cpus=0.25), ClassPool("l40s", 1, "gpu_class_l40s", cpus=0.25)]
    slots = class_slots(pools)
    assert [(s.node_id, s.gpu_class, s.resources) for s in slots] == [
        ("h100-0", "h100", {"gpu_class_h100": 1.0}),
        ("l40s-0", "l40s", {"gpu_class_l40s": 1.0}),
    ]
    nodes = start_render_nodes(slots, str(tmp_path), threads=1, timeout=60)
    extra = ray.remote(RenderNode).options(num_cpus=0.25, resources={"gpu_class_h100": 1}).remote("h100-1", str(tmp_path))
    try:
        free = ray.available_resources()
        assert free.get("gpu_class_h100", 0) == 0 and free.get("gpu_class_l40s", 0) == 0
        with pytest.raises(GetTimeoutError):
            ray.get(extra.ping.remote(), timeout=3)  # no h100 resource left to place it on
    finally:
        for handle in [*nodes.values(), extra]:
            ray.kill(handle)


def test_a_render_on_two_classes_is_priced_per_class_and_the_endpoint_agrees_with_the_log(ray_session, tmp_path):
    port = free_port()
    settings = FarmSettings(chunk_frames=2, metrics_port=port, farm=FarmConfig(classes=(H100, L40S)))
    seq = sequence(shot("sh010", 1001, 1008), shot("sh020", 1009, 1016, angle=60))
    scrapes: list[dict] = []

    def watch(progress) -> None:
        # While rendering and once more when done, before the farm shuts down.
        if progress.chunks_rendered or progress.finished:
            scrapes.append(scrape(port))

    progress = render(seq, tmp_path, settings, on_progress=watch, poll=0.05)
    assert progress.status.value == "completed"
    rendered = accepted_renders(logged(tmp_path))
    assert {e.gpu_class for e in rendered} == {"h100", "l40s"}
    for e in rendered:
        assert e.cost_usd == pytest.approx(e.node_seconds * {"h100": 3.93, "l40s": 1.86}[e.gpu_class] / 3600)
    final = scrapes[-1]
    labels = (("gpu_class", "{}"), ("sequence", "sq010"), ("show", "demo"))
    for gpu_class in ("h100", "l40s"):
        key = ("shotfarm_cost_usd_total", tuple(sorted((k, v.format(gpu_class)) for k, v in labels)))
        assert final[key] == pytest.approx(sum(e.cost_usd for e in rendered if e.gpu_class == gpu_class), rel=1e-9)
    total = sum(v for (name, _), v in final.items() if name == "shotfarm_cost_usd_total")
    assert total == pytest.approx(sum(e.cost_usd for e in rendered), rel=1e-9)
    assert final["shotfarm_nodes", (("gpu_class", "h100"),)] == 1
    assert len(scrapes) >= 2  # at least one scrape while chunks were still rendering


def test_a_shot_no_class_in_the_farm_can_run_is_refused_with_the_reason(ray_session, tmp_path):
    small = L40S.model_copy(update={"max_pixels": 100})
    settings = FarmSettings(chunk_frames=4, farm=FarmConfig(classes=(small,)))
    with pytest.raises(Exception, match="no node class can run shot sh010"):
        render(sequence(), tmp_path, settings, poll=0.05)


def test_a_shot_whose_capable_class_has_no_nodes_reports_why_it_waits_instead_of_hanging(ray_session, tmp_path):
    idle = H100.model_copy(update={"count": 0})
    small = L40S.model_copy(update={"max_pixels": 100})
    settings = FarmSettings(chunk_frames=4, farm=FarmConfig(classes=(idle, small)))
    progress = render(sequence(), tmp_path, settings, poll=0.05)
    assert progress.status.value == "rendering" and progress.chunks_rendered == 0
    assert "no_capable_node" in progress.reason


def test_render_with_a_farm_file_renders_on_its_classes_and_prints_predicted_beside_actual(
    ray_session, tmp_path, capsys
):
    farm = tmp_path / "farm.yaml"
    farm.write_text(yaml.safe_dump({"classes": [H100.model_dump(mode="json"), L40S.model_dump(mode="json")]}))
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec(shot("sh010", 1001, 1004), shot("sh020", 1005, 1008))))
    code = main(["render", str(spec_path), "--out", str(tmp_path / "out"), "--farm", str(farm), "--chunk-frames", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"predicted\s+\$\d+\.\d{4}, [\d.]+ node-seconds, wall \S+ \(calibration.*\); actual \$", out)
    classes = {e.gpu_class for e in logged(tmp_path / "out") if isinstance(e, ev.ChunkRendered)}
    assert classes <= {"h100", "l40s"} and classes


def test_a_farm_file_with_a_negative_price_is_exit_2_naming_the_field(tmp_path, capsys):
    farm = tmp_path / "farm.yaml"
    farm.write_text(yaml.safe_dump({"classes": [{"name": "h100", "count": 1, "usd_per_hour": -1}]}))
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec()))
    code = main(["render", str(spec_path), "--out", str(tmp_path / "out"), "--farm", str(farm)])
    err = capsys.readouterr().err
    assert code == 2 and str(farm) in err and "classes[0].usd_per_hour" in err and "Traceback" not in err


def test_the_example_farm_quotes_the_teaser_and_the_simulator_runs_from_the_command_line(capsys):
    examples = Path(__file__).parents[2] / "examples"
    teaser, farm = str(examples / "teaser.yaml"), str(examples / "farms" / "two_classes.yaml")
    assert main(["quote", teaser, "--farm", farm, "--calibrate", "0"]) == 0
    quoted = capsys.readouterr().out
    assert "demo:teaser" in quoted and "h100" in quoted and "l40s" in quoted
    assert main(["simulate", "--gpus", "8", "--chunks", "200", "--shows", "2", "--sequences-per-show", "1"]) == 0
    simulated = capsys.readouterr().out
    assert "policy        fifo" in simulated and simulated.count("makespan") == 2


def test_a_sequence_over_its_budget_pauses_and_a_resubmitted_budget_resumes_it_without_rerendering(
    ray_session, tmp_path
):
    settings = FarmSettings(chunk_frames=2, farm=FarmConfig(classes=(H100, L40S)))
    shots = (shot("sh010", 1001, 1008), shot("sh020", 1009, 1016, angle=60))  # no continuity re-render
    paused = render(sequence(*shots, budget_usd=1e-7), tmp_path, settings, poll=0.05)
    assert paused.status.value == "rendering" and "budget" in paused.reason
    before = [e for e in logged(tmp_path) if isinstance(e, ev.ChunkRendered)]
    assert 0 < len(before) < 8
    assert any(isinstance(e, ev.BudgetExceeded) for e in logged(tmp_path))

    done = render(sequence(*shots, budget_usd=100.0), tmp_path, settings, poll=0.05)
    assert done.status.value == "completed"
    events = logged(tmp_path)
    assert any(isinstance(e, ev.SchedulingChanged) for e in events)
    rendered = [e.chunk_id for e in events if isinstance(e, ev.ChunkRendered)]
    assert len(rendered) == len(set(rendered)) == 8  # nothing rendered twice
