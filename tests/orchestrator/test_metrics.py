"""Metrics: a projection of events, read back from the registry. No Ray, no clock."""

from __future__ import annotations

import urllib.request
from enum import Enum
from types import SimpleNamespace

import pytest

from orchestrator.config.cost import PriceBook
from orchestrator.core import events as ev
from orchestrator.core.evolve import evolve
from orchestrator.core.state import FarmState, Policy
from orchestrator.projections.metrics import EXPORTED, FarmMetrics, MetricNames, build_labels
from pipelines.chunking import plan_chunks
from pipelines.continuity.findings import Finding
from pipelines.continuity.findings import Severity as FindingSeverity
from tests.builders import SID, checked, failed, planned, pool, rendered, started, submitted

FIRST, SECOND, THIRD = "sh010.1001-1004", "sh010.1005-1008", "sh020.1009-1012"
CUT = "sh010>sh020"
SEQ = {"show": "demo", "sequence": "sq010"}
ALLOWED_LABELS = {"show", "sequence", "gpu_class", "engine", "outcome", "reason", "rule", "severity", "status", "le"}
BUILD_LABELS = {"version", "python", "ray"}
"""shotfarm_build_info's, one series per process."""


class Farm:
    """Folds events into state and the metrics, as the coordinator does."""

    def __init__(self, *events: ev.Event, policy: Policy | None = None, metrics: FarmMetrics | None = None):
        self.metrics = metrics or FarmMetrics(PriceBook())
        self.state = FarmState(policy=policy or Policy())
        self.events: list[ev.Event] = []
        self(*events)

    def __call__(self, *events: ev.Event) -> Farm:
        for e in events:
            self.state = evolve(self.state, e)
            self.events.append(e)
            self.metrics.fold(e, self.state)  # observe, but raising: a bug must fail the test
        return self

    def render(self, chunk_id: str, attempt: int = 1, **update) -> ev.ChunkRendered:
        self(started(chunk_id, attempt=attempt))
        event = rendered(self.state, chunk_id, attempt=attempt).model_copy(update=update)
        self(event)
        return event

    def value(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)


def planned_farm(**kw) -> Farm:
    return Farm(pool("cpu-0", "cpu-1"), submitted(), planned(), **kw)


def queued(chunk_id: str, at: float = 4.0) -> ev.ChunkQueued:
    return ev.ChunkQueued(at=at, sequence_id=SID, chunk_id=chunk_id, reason="retry after failure")


def finish(farm: Farm) -> Farm:
    master = ev.MasterStitched(
        at=9,
        sequence_id=SID,
        frames=tuple(ev.FrameRecord(frame=f, key=f"m/{f}", digest="d") for f in range(1001, 1013)),
        contact_sheet=ev.FrameRecord(frame=0, key="k", digest="d"),
        range={"first": 1001, "last": 1012},
    )
    return farm(master, ev.SequenceCompleted(at=10, sequence_id=SID))


def samples(metrics: FarmMetrics) -> list:
    return [s for family in metrics.registry.collect() for s in family.samples]


def test_a_rendered_chunk_adds_its_node_seconds_cost_and_frames_under_show_sequence_and_class():
    farm = planned_farm()
    farm.render(FIRST, gpu_class="h100", node_seconds=30.0, cost_usd=0.25)
    farm.render(SECOND)
    assert farm.value("shotfarm_gpu_seconds_total", **SEQ, gpu_class="h100") == 30.0
    assert farm.value("shotfarm_cost_usd_total", **SEQ, gpu_class="h100") == 0.25
    assert farm.value("shotfarm_cost_usd_total", **SEQ, gpu_class="cpu") == pytest.approx(0.001)
    assert farm.value("shotfarm_chunks_total", **SEQ, gpu_class="h100", outcome="rendered") == 1
    assert farm.value("shotfarm_frames_rendered_total", **SEQ) == 8
    assert farm.value("shotfarm_chunk_duration_seconds_count", gpu_class="h100", engine="pathtracer") == 1
    assert farm.value("shotfarm_chunk_duration_seconds_bucket", gpu_class="h100", engine="pathtracer", le="30.0") == 1
    assert farm.value("shotfarm_chunk_duration_seconds_bucket", gpu_class="h100", engine="pathtracer", le="10.0") == 0


def test_the_engine_label_is_the_one_the_farm_was_given():
    farm = planned_farm(metrics=FarmMetrics(PriceBook(), engine="cycles"))
    farm.render(FIRST)
    assert farm.value("shotfarm_chunk_duration_seconds_count", gpu_class="cpu", engine="cycles") == 1


def test_a_result_from_a_superseded_attempt_is_not_counted():
    farm = planned_farm()
    farm(started(FIRST), failed(FIRST), queued(FIRST), started(FIRST, attempt=2))
    farm(rendered(farm.state, FIRST, attempt=1))
    assert farm.value("shotfarm_cost_usd_total", **SEQ, gpu_class="cpu") is None
    assert farm.value("shotfarm_chunks_total", **SEQ, gpu_class="cpu", outcome="rendered") is None
    farm(rendered(farm.state, FIRST, attempt=2), rendered(farm.state, FIRST, attempt=2))  # the second is a duplicate
    assert farm.value("shotfarm_chunks_total", **SEQ, gpu_class="cpu", outcome="rendered") == 1
    assert farm.value("shotfarm_cost_usd_total", **SEQ, gpu_class="cpu") == pytest.approx(0.001)


def test_failed_attempts_count_as_retried_until_the_chunk_gives_up():
    farm = planned_farm(policy=Policy(max_attempts=2))
    farm(started(FIRST), failed(FIRST), queued(FIRST), started(FIRST, attempt=2), failed(FIRST, attempt=2))
    assert farm.value("shotfarm_chunks_total", **SEQ, gpu_class="cpu", outcome="retried") == 1
    assert farm.value("shotfarm_chunks_total", **SEQ, gpu_class="cpu", outcome="failed") == 1


def test_a_permanent_failure_counts_as_failed_on_the_class_of_the_node_that_held_it():
    farm = Farm(
        ev.PoolStarted(at=0, sequence_id=ev.FARM, nodes=(ev.NodeInfo(node_id="g0", gpu_class="l40s", slots=1),)),
        submitted(),
        planned(),
    )
    farm(ev.ChunkStarted(at=2, sequence_id=SID, chunk_id=FIRST, attempt=1, node_id="g0", gpu_class="l40s"))
    farm(failed(FIRST, retryable=False, node="g0"))
    assert farm.value("shotfarm_chunks_total", **SEQ, gpu_class="l40s", outcome="failed") == 1
    assert farm.value("shotfarm_chunks_total", **SEQ, gpu_class="l40s", outcome="retried") is None


def test_queue_running_and_waiting_follow_the_chunks():
    farm = planned_farm()
    assert farm.value("shotfarm_queue_depth", **SEQ) == 3
    assert farm.value("shotfarm_chunks_waiting", show="demo", reason="no_free_slot") == 3
    farm(started(FIRST), started(SECOND, node="cpu-1"))
    assert farm.value("shotfarm_queue_depth", **SEQ) == 1
    assert farm.value("shotfarm_chunks_running", **SEQ) == 2
    farm(failed(FIRST))
    assert farm.value("shotfarm_chunks_waiting", show="demo", reason="retry_backoff") == 1
    assert farm.value("shotfarm_chunks_running", **SEQ) == 1
    farm(queued(FIRST))
    assert farm.value("shotfarm_chunks_waiting", show="demo", reason="retry_backoff") == 0
    assert farm.value("shotfarm_chunks_waiting", show="demo", reason="no_free_slot") == 2


def test_waiting_chunks_are_summed_over_the_sequences_of_a_show():
    farm = planned_farm()
    other = submitted()
    farm(other.model_copy(update={"sequence_id": "demo:sq020", "spec": dict(other.spec, sequence="sq020")}))
    farm(planned().model_copy(update={"sequence_id": "demo:sq020"}))
    assert farm.value("shotfarm_queue_depth", show="demo", sequence="sq020") == 3
    assert farm.value("shotfarm_chunks_waiting", show="demo", reason="no_free_slot") == 6


def test_a_restarted_pool_puts_running_chunks_back_in_the_queue_gauge():
    farm = planned_farm()
    farm(started(FIRST), started(SECOND, node="cpu-1"))
    farm(ev.PoolStarted(at=7.5, sequence_id=ev.FARM, nodes=(ev.NodeInfo(node_id="cpu-0", gpu_class="cpu", slots=1),)))
    assert farm.value("shotfarm_queue_depth", **SEQ) == 3
    assert farm.value("shotfarm_chunks_running", **SEQ) == 0
    assert farm.value("shotfarm_last_event_timestamp_seconds", **SEQ) == 7.5
    assert farm.value("shotfarm_nodes", gpu_class="cpu") == 1


def test_nodes_are_counted_per_class_and_every_priced_class_is_exported():
    farm = Farm(
        ev.PoolStarted(
            at=0,
            sequence_id=ev.FARM,
            nodes=tuple(ev.NodeInfo(node_id=f"h{i}", gpu_class="h100", slots=2) for i in range(3))
            + (ev.NodeInfo(node_id="a0", gpu_class="a10g", slots=2),),
        )
    )
    assert farm.value("shotfarm_nodes", gpu_class="h100") == 3
    assert farm.value("shotfarm_nodes", gpu_class="a10g") == 1
    assert farm.value("shotfarm_nodes", gpu_class="l40s") == 0
    farm(pool("cpu-0"))
    assert farm.value("shotfarm_nodes", gpu_class="h100") == 0
    assert farm.value("shotfarm_nodes", gpu_class="cpu") == 1


def test_draining_nodes_are_counted_per_class_until_they_join_again():
    farm = Farm(pool("cpu-0", "cpu-1"))
    assert farm.value("shotfarm_nodes_draining", gpu_class="cpu") == 0
    farm(ev.NodeDraining(at=1.0, sequence_id=ev.FARM, node_id="cpu-1"))
    assert farm.value("shotfarm_nodes_draining", gpu_class="cpu") == 1
    assert farm.value("shotfarm_nodes", gpu_class="cpu") == 2, "still in the pool: it finishes what it renders"
    farm(ev.NodeJoined(at=2.0, sequence_id=ev.FARM, node=ev.NodeInfo(node_id="cpu-1", gpu_class="cpu", slots=1)))
    assert farm.value("shotfarm_nodes_draining", gpu_class="cpu") == 0


def test_sequences_are_counted_by_status_and_per_sequence_gauges_go_when_it_finishes():
    farm = planned_farm()
    assert farm.value("shotfarm_sequences", status="rendering") == 1
    for cid in (FIRST, SECOND, THIRD):
        farm.render(cid)
    assert farm.value("shotfarm_sequences", status="stitching") == 1
    finish(farm)
    assert farm.value("shotfarm_sequences", status="completed") == 1
    assert farm.value("shotfarm_sequences", status="rendering") == 0
    assert farm.value("shotfarm_master_frames_total", **SEQ) == 12
    for gauge in ("shotfarm_queue_depth", "shotfarm_chunks_running", "shotfarm_last_event_timestamp_seconds"):
        assert farm.value(gauge, **SEQ) is None
    assert farm.value("shotfarm_chunks_waiting", show="demo", reason="no_free_slot") == 0
    assert farm.value("shotfarm_cost_usd_total", **SEQ, gpu_class="cpu") == pytest.approx(0.003)


def test_the_last_event_time_is_the_events_own_time():
    farm = planned_farm()
    farm(started(FIRST).model_copy(update={"at": 1234.5}))
    assert farm.value("shotfarm_last_event_timestamp_seconds", **SEQ) == 1234.5


def test_the_budget_gauge_is_defined_but_unset_until_a_budget_is_known():
    farm = planned_farm()
    farm.render(FIRST, cost_usd=0.4)
    budget = [f for f in farm.metrics.registry.collect() if f.name == MetricNames.BUDGET_REMAINING]
    assert len(budget) == 1 and budget[0].samples == []
    farm.metrics.set_budget(SID, 10.0)
    assert farm.value("shotfarm_budget_remaining_usd", **SEQ) == pytest.approx(9.6)
    farm.render(SECOND, cost_usd=1.0)
    assert farm.value("shotfarm_budget_remaining_usd", **SEQ) == pytest.approx(8.6)


class Severity(str, Enum):
    WARNING = "warning"
    ERROR = "error"


def test_continuity_findings_are_counted_by_rule_and_severity():
    metrics = FarmMetrics(PriceBook())
    findings = [
        SimpleNamespace(rule="exposure_jump", severity=Severity.WARNING),
        SimpleNamespace(rule="exposure_jump", severity=Severity.WARNING),
        SimpleNamespace(rule="line_of_action", severity="error"),
    ]
    metrics.record_findings("demo", "sq010", findings)
    get = metrics.registry.get_sample_value
    assert get("shotfarm_continuity_findings_total", {**SEQ, "rule": "exposure_jump", "severity": "warning"}) == 2
    assert get("shotfarm_continuity_findings_total", {**SEQ, "rule": "line_of_action", "severity": "error"}) == 1


def _story(farm: Farm) -> Farm:
    """Renders, a retried failure, a render on another class, an invalidated chunk rendered again."""
    farm.render(FIRST, gpu_class="cpu", node_seconds=5.0, cost_usd=0.0125)
    farm(started(SECOND), failed(SECOND), queued(SECOND))
    farm.render(SECOND, attempt=2, node_seconds=7.0, cost_usd=0.02)
    farm.render(THIRD, node_seconds=3.0, cost_usd=0.007)
    farm(ev.ChunkInvalidated(at=8, sequence_id=SID, chunk_id=THIRD, reason="digest mismatch"))
    farm.render(THIRD, attempt=2, node_seconds=4.0, cost_usd=0.009)
    return farm


def test_an_invalidated_chunk_counts_as_retried_and_its_second_render_costs_again():
    farm = _story(planned_farm())
    assert farm.value("shotfarm_chunks_total", **SEQ, gpu_class="cpu", outcome="retried") == 2
    assert farm.value("shotfarm_chunks_total", **SEQ, gpu_class="cpu", outcome="rendered") == 4
    assert farm.value("shotfarm_cost_usd_total", **SEQ, gpu_class="cpu") == pytest.approx(0.0485)


def test_rebuilt_from_replayed_state_cost_and_gpu_seconds_equal_the_logs_totals():
    live = _story(planned_farm())
    log_usd = sum(e.cost_usd for e in live.events if isinstance(e, ev.ChunkRendered))
    log_seconds = sum(e.node_seconds for e in live.events if isinstance(e, ev.ChunkRendered))
    rebuilt = FarmMetrics(PriceBook())
    rebuilt.rebuild(live.state)
    get = rebuilt.registry.get_sample_value
    assert get("shotfarm_cost_usd_total", {**SEQ, "gpu_class": "cpu"}) == pytest.approx(log_usd)
    assert get("shotfarm_gpu_seconds_total", {**SEQ, "gpu_class": "cpu"}) == pytest.approx(log_seconds)
    assert get("shotfarm_chunks_total", {**SEQ, "gpu_class": "cpu", "outcome": "retried"}) == 2
    assert get("shotfarm_queue_depth", SEQ) == live.value("shotfarm_queue_depth", **SEQ) == 0
    assert get("shotfarm_sequences", {"status": "stitching"}) == 1


def test_rebuild_matches_the_live_projection_when_nothing_was_invalidated():
    live = planned_farm()
    live.render(FIRST)
    live(started(SECOND), failed(SECOND), queued(SECOND), started(SECOND, attempt=2))
    rebuilt = FarmMetrics(PriceBook())
    rebuilt.rebuild(live.state)
    # The replayed state does not keep event times, and `_created` is when a series first appeared.
    skip = {"shotfarm_last_event_timestamp_seconds"}

    def comparable(m: FarmMetrics) -> dict:
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for s in samples(m)
            if s.name not in skip and not s.name.endswith("_created")
        }

    assert comparable(rebuilt) == comparable(live.metrics)


def test_rebuild_twice_does_not_double_count():
    live = _story(planned_farm())
    metrics = FarmMetrics(PriceBook())
    metrics.rebuild(live.state)
    metrics.rebuild(live.state)
    assert metrics.registry.get_sample_value("shotfarm_frames_rendered_total", SEQ) == 12


def test_events_after_a_rebuild_continue_from_the_rebuilt_counts():
    live = planned_farm()
    live.render(FIRST)
    resumed = Farm(metrics=FarmMetrics(PriceBook()))
    resumed.state = live.state
    resumed.metrics.rebuild(live.state)
    resumed(pool("cpu-0"))
    resumed.render(SECOND)
    assert resumed.value("shotfarm_frames_rendered_total", **SEQ) == 8
    assert resumed.value("shotfarm_cost_usd_total", **SEQ, gpu_class="cpu") == pytest.approx(0.002)


def test_labels_are_low_cardinality_and_never_name_shots_chunks_or_nodes():
    farm = _story(planned_farm())
    farm.metrics.record_findings("demo", "sq010", [SimpleNamespace(rule="r", severity="info")])
    seen = samples(farm.metrics)
    assert seen
    for s in seen:
        assert set(s.labels) <= (BUILD_LABELS if s.name == "shotfarm_build_info" else ALLOWED_LABELS), s
        assert not {"sh010", "sh020", "cpu-0", "cpu-1"} & {v.split(".")[0] for v in s.labels.values()}, s


def test_the_exported_names_are_exactly_the_registrys_families():
    metrics = FarmMetrics(PriceBook())
    families = {f.name + ("_total" if f.type == "counter" else "") for f in metrics.registry.collect()}
    assert families == set(EXPORTED)
    assert all(name.startswith("shotfarm_") for name in EXPORTED)


def test_two_farms_in_one_process_do_not_share_a_registry():
    a, b = planned_farm(), planned_farm()
    a.render(FIRST)
    assert b.value("shotfarm_frames_rendered_total", **SEQ) is None


def test_the_endpoint_serves_the_registry_in_the_text_format():
    farm = planned_farm()
    farm.render(FIRST, cost_usd=0.5)
    port = farm.metrics.serve(0, "127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        farm.metrics.close()
    assert 'shotfarm_cost_usd_total{gpu_class="cpu",sequence="sq010",show="demo"} 0.5' in text
    assert "# TYPE shotfarm_chunk_duration_seconds histogram" in text


def finding(rule: str, severity: FindingSeverity) -> Finding:
    return Finding(
        rule=rule, cut=CUT, left="sh010", right="sh020", measured={"x": 1.0}, threshold=0.5,
        severity=severity, explanation="sh020 does not match sh010",
    )  # fmt: skip


def rendered_farm() -> Farm:
    farm = planned_farm()
    for cid in (FIRST, SECOND, THIRD):
        farm.render(cid)
    return farm


def test_a_checked_cut_counts_its_findings_and_a_stale_check_counts_nothing():
    farm = rendered_farm()
    findings = (finding("exposure", FindingSeverity.WARN), finding("axis_180", FindingSeverity.ERROR))
    farm(checked(farm.state, CUT, findings))
    get = farm.metrics.registry.get_sample_value
    assert get("shotfarm_continuity_findings_total", {**SEQ, "rule": "exposure", "severity": "warn"}) == 1
    assert get("shotfarm_continuity_findings_total", {**SEQ, "rule": "axis_180", "severity": "error"}) == 1
    stale = checked(farm.state, CUT, findings[:1])
    farm(stale.model_copy(update={"fingerprint": "old"}))
    assert get("shotfarm_continuity_findings_total", {**SEQ, "rule": "exposure", "severity": "warn"}) == 1


def requeued(farm: Farm) -> ev.ShotRequeued:
    seq = farm.state.sequences[SID]
    shot = seq.spec.shot("sh020").model_dump(mode="json")
    chunks = tuple(c for c in plan_chunks(seq.spec, 4) if c.shot == "sh020")
    return ev.ShotRequeued(
        at=7, sequence_id=SID, cut=CUT, shot="sh020", patch={}, version=2, shot_spec=shot, chunks=chunks
    )


def test_observing_a_replayed_log_counts_the_cost_of_replaced_shot_versions():
    farm = rendered_farm()
    farm(checked(farm.state, CUT, (finding("axis_180", FindingSeverity.ERROR),)), requeued(farm))
    farm.render(THIRD, attempt=2, cost_usd=0.005)
    log_usd = sum(e.cost_usd for e in farm.events if isinstance(e, ev.ChunkRendered))
    replayed = Farm(*farm.events)
    assert replayed.value("shotfarm_cost_usd_total", **SEQ, gpu_class="cpu") == pytest.approx(log_usd)
    # The state keeps what the replaced version cost as well, so the summary agrees.
    assert farm.state.sequences[SID].cost_usd == pytest.approx(log_usd)
    # rebuild() counts the chunks standing in the state: sh020 v1's render is not one of them.
    rebuilt = FarmMetrics(PriceBook())
    rebuilt.rebuild(farm.state)
    assert rebuilt.registry.get_sample_value("shotfarm_cost_usd_total", {**SEQ, "gpu_class": "cpu"}) == pytest.approx(
        log_usd - 0.001
    )


def test_an_error_inside_the_metrics_is_logged_and_never_reaches_the_coordinator(caplog):
    metrics = FarmMetrics(PriceBook())

    def broken(event, state):
        raise RuntimeError("bug in a projection")

    metrics.fold = broken  # type: ignore[method-assign]
    metrics.observe(submitted(), FarmState())
    assert "metrics: could not fold SequenceSubmitted" in caplog.text


def test_build_info_is_one_series_naming_the_package_python_and_ray_versions():
    import platform
    from importlib.metadata import version

    from orchestrator import __version__

    metrics = FarmMetrics(PriceBook())
    (family,) = [f for f in metrics.registry.collect() if f.name == MetricNames.BUILD_INFO]
    (sample,) = family.samples
    assert sample.value == 1
    assert sample.labels == {"version": __version__, "python": platform.python_version(), "ray": version("ray")}


def test_build_info_survives_a_rebuild_from_the_log():
    farm = _story(planned_farm())
    farm.metrics.rebuild(farm.state)
    assert farm.metrics.registry.get_sample_value(MetricNames.BUILD_INFO, {**build_labels()}) == 1
