"""monitoring/: rules pass promtool, dashboards fit their schema, every query names an exported
metric, and a real Prometheus scraping a real render reads the log's cost."""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from typing import Any

import jsonschema
import pytest
import yaml

from orchestrator.core import events as ev
from orchestrator.projections.metrics import EXPORTED
from orchestrator.scheduling.waiting import WaitReason
from tests import builders
from tests.deploy.promql import exported_samples, metric_names
from tests.deploy.support import REPO, tool

MONITORING = REPO / "monitoring"
RULES = MONITORING / "rules" / "shotfarm.rules.yaml"
DASHBOARDS = sorted((MONITORING / "dashboards").glob("*.json"))
LABEL_VALUES = re.compile(r"^label_values\((.+),\s*\w+\)$")


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, timeout=60, cwd=MONITORING)


def dashboard(path) -> dict[str, Any]:
    return json.loads(path.read_text())


def rule_exprs() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [r["expr"] for g in groups for r in g["rules"]]


def dashboard_exprs(board: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            match = LABEL_VALUES.match(query)
            exprs.append(match.group(1) if match else query)
    return exprs


# -- rules --------------------------------------------------------------------------


def test_the_rules_and_the_scrape_config_pass_promtool_check():
    for args in (("check", "rules", "rules/shotfarm.rules.yaml"), ("check", "config", "prometheus.yml")):
        out = promtool(*args)
        assert out.returncode == 0, out.stdout + out.stderr


def test_the_rules_pass_their_promtool_unit_tests():
    out = promtool("test", "rules", "rules/tests/shotfarm.rules.test.yaml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout + out.stderr


def test_promtool_fails_a_rule_whose_test_no_longer_holds(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "shotfarm.rules.yaml").write_text(RULES.read_text().replace("> 2700", "> 99999"))
    test = MONITORING / "rules" / "tests" / "shotfarm.rules.test.yaml"
    (tmp_path / "tests" / test.name).write_text(test.read_text())
    out = promtool("test", "rules", str(tmp_path / "tests" / test.name))
    assert out.returncode == 1 and "ShotfarmSequenceStalled" in out.stdout + out.stderr


def test_every_alert_has_a_severity_a_summary_and_a_unit_test():
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    tests = (MONITORING / "rules" / "tests" / "shotfarm.rules.test.yaml").read_text()
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert f"alertname: {rule['alert']}\n" in tests, f"{rule['alert']} has no promtool test"


def test_the_prometheusrule_carries_the_rules_file_verbatim():
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"], (
        "monitoring/prometheusrule.yaml is out of date: regenerate it as its header says"
    )


# -- metric names -----------------------------------------------------------------


@pytest.mark.parametrize(
    "expr, names",
    [
        (
            'sum by (show) (rate(shotfarm_cost_usd_total{show=~"$show"}[$__rate_interval])) * 3600',
            {"shotfarm_cost_usd_total"},
        ),
        ("histogram_quantile(0.9, sum by (le, gpu_class) (rate(x_bucket[5m])))", {"x_bucket"}),
        ("a / on (show, sequence) group_left b offset 5m > bool 1e-3", {"a", "b"}),
        ('time() - max(c{reason="no_free_slot", le="+Inf"}) unless d[1h:1m]', {"c", "d"}),
        ('absent(e) and on () count(f) > 0 or vector(1)', {"e", "f"}),
    ],
)
def test_metric_names_are_found_in_promql(expr, names):
    assert metric_names(expr) == names


def test_exported_samples_cover_counter_and_histogram_suffixes():
    samples = exported_samples()
    assert {"shotfarm_cost_usd_total", "shotfarm_chunk_duration_seconds_bucket", "shotfarm_queue_depth"} <= samples
    assert "shotfarm_cost_usd" not in samples and "shotfarm_chunk_duration_seconds" not in samples
    assert set(EXPORTED) - {"shotfarm_chunk_duration_seconds"} <= samples


def test_rules_name_only_metrics_the_farm_exports():
    unknown = {n for expr in rule_exprs() for n in metric_names(expr)} - exported_samples()
    assert unknown == set()


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboards_name_only_metrics_the_farm_exports(path):
    exprs = dashboard_exprs(dashboard(path))
    names = {n for expr in exprs for n in metric_names(expr)}
    assert names and names - exported_samples() == set()


def test_a_query_naming_an_unexported_metric_is_caught():
    board = dashboard(DASHBOARDS[0])
    board["panels"][0]["targets"][0]["expr"] = "sum(shotfarm_cost_dollars_total)"
    names = {n for expr in dashboard_exprs(board) for n in metric_names(expr)}
    assert names - exported_samples() == {"shotfarm_cost_dollars_total"}


# -- dashboards ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> jsonschema.Draft7Validator:
    data = json.loads((MONITORING / "dashboard.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(data)
    return jsonschema.Draft7Validator(data)


def test_the_dashboards_cover_what_the_farm_is_read_by():
    titles = {p["title"] for path in DASHBOARDS for p in dashboard(path)["panels"]}
    for needed in (
        "Cost by show and sequence", "USD per hour by show", "GPU-hours by class", "Frames per minute",
        "Queue depth", "Waiting chunks by reason", "Chunk duration percentiles",
        "Continuity findings by rule and severity", "Failures and retries per minute", "Nodes by GPU class",
    ):  # fmt: skip
        assert needed in titles


def reasons_named(text: str) -> set[str]:
    return {r.value for r in WaitReason if re.search(rf"\b{r.value}\b", text)}


def test_the_waiting_panel_the_queue_alert_and_the_runbook_name_every_waiting_reason():
    (panel,) = [p for path in DASHBOARDS for p in dashboard(path)["panels"] if p["title"] == "Waiting chunks by reason"]
    alert = next(r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]
                 if r["alert"] == "ShotfarmQueueWaitTooLong")  # fmt: skip
    runbook = (REPO / "docs" / "runbook.md").read_text()
    section = runbook.split("## Why chunks wait", 1)[1].split("\n#", 1)[0]
    every = {r.value for r in WaitReason}
    assert reasons_named(panel["description"]) == every
    assert reasons_named(alert["annotations"]["description"]) == every
    assert set(re.findall(r"^\| `(\w+)` \|", section, re.M)) == every  # a row each, with what to do
    assert reasons_named("no_free_slot: busy; retry_backoff: waiting") != every  # a short list is caught


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboards_validate_against_the_pinned_schema(schema, path):
    assert [e.message for e in schema.iter_errors(dashboard(path))] == []


@pytest.mark.parametrize(
    "break_it, message",
    [
        (lambda d: d["panels"][0].update(gridpos=d["panels"][0].pop("gridPos")), "'gridPos' is a required property"),
        (lambda d: d["panels"][0]["gridPos"].update(w=30), "30 is greater than the maximum of 24"),
        (lambda d: d["panels"][0]["targets"][0].update(expr=""), "should be non-empty"),
        (lambda d: d["time"].pop("to"), "'to' is a required property"),
        (lambda d: d.update(graphTooltip=7), "7 is not one of [0, 1, 2]"),
        (lambda d: d["panels"][0].update(datasource={"type": "loki", "uid": "x"}), "'prometheus' was expected"),
    ],
)
def test_the_schema_rejects_a_broken_dashboard(schema, break_it, message):
    board = copy.deepcopy(dashboard(DASHBOARDS[0]))
    break_it(board)
    assert any(message in e.message for e in schema.iter_errors(board)), [e.message for e in schema.iter_errors(board)]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_panels_have_unique_ids_and_do_not_overlap(path):
    panels = dashboard(path)["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells = [
        (x, y)
        for g in (p["gridPos"] for p in panels)
        for x in range(g["x"], g["x"] + g["w"])
        for y in range(g["y"], g["y"] + g["h"])
    ]
    assert len(cells) == len(set(cells))
    assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in panels)


def test_dashboard_uids_are_unique():
    uids = [dashboard(p)["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids)) == 4


# -- a real Prometheus scraping a real render ------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    def __init__(self, url: str, target_port: int):
        self.url, self.target_port = url, target_port

    def query(self, expr: str, path: str = "query", **params: Any) -> list[dict[str, Any]]:
        qs = urllib.parse.urlencode({"query": expr, **params})
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{qs}", timeout=5) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]["result"]

    def scalar(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None


@pytest.fixture
def prometheus(tmp_path):
    port, target = free_port(), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [{"job_name": "shotfarm", "static_configs": [{"targets": [f"127.0.0.1:{target}"]}]}],
            }
        )
    )
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _ready(url), proc, 20, "Prometheus to be ready")
        yield Prometheus(url, target)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def wait_for(ready, proc: subprocess.Popen | None, seconds: float, what: str) -> None:
    end = time.monotonic() + seconds
    while not ready():
        assert proc is None or proc.poll() is None, f"exited ({proc.returncode}) while waiting for {what}"
        assert time.monotonic() < end, f"gave up waiting {seconds:.0f} s for {what}"
        time.sleep(0.05)


def logged(out) -> list[ev.Event]:
    try:
        db = sqlite3.connect(f"file:{out / 'shotfarm.db'}?mode=ro", uri=True, timeout=1)
        try:
            rows = db.execute("SELECT body FROM events ORDER BY seq").fetchall()
        finally:
            db.close()
    except sqlite3.OperationalError:
        return []  # not created yet
    return [ev.event_from_json(body) for (body,) in rows]


def has(out, kind: type) -> bool:
    return any(isinstance(e, kind) for e in logged(out))


@pytest.mark.slow
def test_prometheus_scraping_a_real_render_reads_the_cost_the_log_records(prometheus, tmp_path):
    spec = tmp_path / "spec.yaml"
    # sh020's samples keep the farm rendering for seconds after its chunks are planned.
    shots = builders.shot("sh010", 1001, 1008), builders.shot("sh020", 1009, 1016, angle=60, samples=1024)
    spec.write_text(yaml.safe_dump(builders.spec(*shots)))
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1")
    output = (tmp_path / "render.log").open("w")
    render = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.interfaces.cli", "render", str(spec), "--out", str(out), "--cpus", "2",
         "--chunk-frames", "2", "--metrics-port", str(prometheus.target_port)],
        cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT,
    )  # fmt: skip
    frozen = False
    try:
        wait_for(lambda: has(out, ev.ShotsPlanned), render, 120, "the render to plan its chunks")
        # The metrics endpoint lives in the coordinator actor, which the CLI
        # (the Ray driver) shuts down as soon as it sees the sequence finish.
        # Freezing the CLI keeps the coordinator serving after the last event,
        # so a scrape that surely follows every ChunkRendered exists; the
        # coordinator itself renders on, it needs nothing from the driver.
        os.kill(render.pid, signal.SIGSTOP)
        frozen = True
        assert not has(out, ev.SequenceCompleted), "the render finished before the CLI was frozen"
        wait_for(lambda: has(out, ev.SequenceCompleted), None, 120, "the sequence to complete")
        events = logged(out)
        done_at = next(e.at for e in events if isinstance(e, ev.SequenceCompleted))
        accepted = builders.accepted_renders(events)
        costs = [e.cost_usd for e in accepted]
        frames = sum(len(e.frames) for e in accepted)

        # A scrape that began after SequenceCompleted was recorded saw every render folded in.
        wait_for(
            lambda: (prometheus.scalar("max(timestamp(shotfarm_cost_usd_total))") or 0) > done_at,
            None, 30, "a scrape after the sequence completed",
        )  # fmt: skip
        assert prometheus.scalar("sum(shotfarm_cost_usd_total)") == pytest.approx(sum(costs), rel=1e-9, abs=1e-15)
        assert prometheus.scalar("sum(shotfarm_frames_rendered_total)") == frames >= 16
        assert prometheus.scalar('sum(shotfarm_chunks_total{outcome="rendered"})') == len(costs) >= 8
        assert prometheus.scalar('shotfarm_sequences{status="completed"}') == 1

        # Every value scraped along the way was the log's total at some point: a prefix sum.
        now = time.time()
        (series,) = prometheus.query("sum(shotfarm_cost_usd_total)", "query_range", start=now - 300, end=now, step=0.5)
        prefix = [sum(costs[:i]) for i in range(len(costs) + 1)]
        for _, value in series["values"]:
            assert min(abs(float(value) - p) for p in prefix) <= 1e-12, value
    finally:
        if frozen:
            os.kill(render.pid, signal.SIGCONT)
        try:
            code = render.wait(timeout=60)
        except subprocess.TimeoutExpired:
            render.kill()
            code = render.wait(timeout=10)
        output.close()
    assert code == 0, (tmp_path / "render.log").read_text()
