"""Generated hostile inputs through the real parsers and the real API: the contract holds for all of them.

Each test takes a good input (a spec, a farm config, a scene mapping, a cut)
and puts one generated hostile value (NaN, infinity, huge, negative,
boolean, deep, long, unicode, wrong type) at a generated place in it. Then:

- a parser either returns its model or raises SpecError (EditorialError is
  one): never any other exception, never a recursion, never a crash;
- what a parser accepts is finite and bounded, and round-trips through JSON
  into the event log's fold (so nothing accepted can poison the log);
- the API answers 2xx or 4xx with a field path, never 5xx, and stores
  nothing it refused.

Derandomized, so every run tries the same cases and a red run is reproducible.
"""

from __future__ import annotations

import json
import math
from typing import Any

import opentimelineio as otio
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.config.farm_file import parse_farm
from orchestrator.core import events as ev
from orchestrator.core.isolation import fold
from orchestrator.core.state import FarmState
from pipelines.editorial.cut import EditorialError
from pipelines.editorial.mapping import build_sequence, parse_mapping
from pipelines.editorial.otio import read_otio
from pipelines.spec import limits
from pipelines.spec.documents import read_document
from pipelines.spec.loading import SpecError, parse_sequence
from tests.api.support import OTHER, local_server
from tests.builders import shot, spec, with_value
from tests.pipelines.editorial.support import mapping

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
FARM = {
    "classes": [
        {"name": "h100", "count": 1, "resource": "gpu_class_h100", "gpus": 0, "cpus": 1, "speed": 1.0, "usd_per_hour": 3.93},
        {"name": "l40s", "count": 1, "resource": "gpu_class_l40s", "gpus": 0, "cpus": 1, "speed": 0.6, "usd_per_hour": 1.86},
    ],
    "subscriptions": [{"show": "demo", "share": 0.5, "burst": 1.0}],
    "target_chunk_seconds": 30,
}


def deep(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


HOSTILE = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, 0, -1, -(2**63), 2**63, 10**30, True, False, None]),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["", "x" * 5000, "\u202e\u0000\ud7ff", "../../etc/passwd", "1e99999999", "24000/0", "𝔰𝔥𝔬𝔱" * 300]),
    st.integers(min_value=limits.MAX_DEPTH - 2, max_value=400).map(deep),
    st.lists(st.integers(), max_size=5),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.sampled_from([[0] * (limits.MAX_ITEMS + 1), {"first": 0, "last": limits.MAX_FRAME + 1}]),
)


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON-like tree a value could be put (existing ones, and one new key per mapping)."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        out.append((*prefix, "unheard_of"))
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


def mutations(base: Any) -> st.SearchStrategy[Any]:
    """The base with one to three hostile values put at generated places."""
    places = st.lists(st.tuples(st.sampled_from(paths(base)), HOSTILE), min_size=1, max_size=3)

    def apply(changes: list[tuple[tuple, Any]]) -> Any:
        tree = base
        for path, value in changes:
            try:
                tree = with_value(tree, path, value)
            except (KeyError, IndexError, TypeError):  # an earlier change replaced what held this place
                pass
        return tree

    return places.map(apply)


def number_paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON-like tree that holds a number."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [prefix]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return [p for k, v in items for p in number_paths(v, (*prefix, k))]


FULL = spec(
    shot("sh010", 1001, 1008, handles=2, samples=4, grade={"slope": [1, 1, 1], "offset": [0, 0, 0], "power": [1, 1, 1], "saturation": 1}),
    shot("sh020", 1009, 1012, handles=2, dissolve=2, lights=[{"type": "sun", "direction": [0, 1, 0]}]),
    budget_usd=10,
)
FULL["scenes"]["set"]["objects"].append(
    {"type": "box", "name": "crate", "min": [0, 0, 0], "max": [1, 1, 1], "material": "grey",
     "motion": [{"frame": 0, "offset": [0, 0, 0]}, {"frame": 4, "offset": [1, 0, 0]}]}
)
FULL["scenes"]["set"]["lights"].append({"type": "area", "corner": [0, 3, 0], "u": [1, 0, 0], "v": [0, 0, 1]})
FULL["scenes"]["set"]["materials"]["gloss"] = {"type": "glossy", "roughness": 0.3, "specular": 0.04}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True, 10**30], ids=["nan", "inf", "-inf", "true", "1e30"])
def test_every_number_of_the_spec_refuses_every_non_number_and_every_unbounded_one(value):
    # A sweep, not a sample: each numeric place of a spec that uses every model, with each value.
    parse_sequence(FULL)  # the base itself is good
    for path in number_paths(FULL):
        with pytest.raises(SpecError):
            parse_sequence(with_value(FULL, path, value))


def finite(value: Any) -> bool:
    """Every number in a dumped model is finite (what JSON and the log can carry)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, float) and not math.isfinite(v):
            return False
        if isinstance(v, dict):
            stack += v.values()
        elif isinstance(v, list | tuple):
            stack += v
    return True


def accepted_specs_fold(sequence) -> None:
    """What is accepted goes through the log's JSON and folds, so it can never poison a replay."""
    dumped = json.loads(sequence.model_dump_json())
    assert finite(dumped)
    event = ev.SequenceSubmitted(at=0.0, sequence_id=f"{sequence.show}:{sequence.sequence}", spec=dumped, spec_digest="d")
    body = event.model_dump_json()
    state = fold(FarmState(), 1, ev.event_from_json(body))
    assert state.unfoldable == {} and event.sequence_id in state.sequences


@FUZZ
@given(mutations(FULL))
def test_a_hostile_spec_is_a_model_or_a_spec_error(data):
    try:
        sequence = parse_sequence(data)
    except SpecError as e:
        assert e.problems and len(e.render()) < 50_000
        return
    accepted_specs_fold(sequence)


@FUZZ
@given(mutations(FULL), st.sampled_from(["json", "yaml"]))
def test_a_hostile_spec_as_text_is_a_model_or_a_spec_error(data, kind):
    text = json.dumps(data) if kind == "json" else yaml.safe_dump(data)
    try:
        sequence = parse_sequence(read_document(text.encode(), f"spec.{kind}", yaml_ok=kind == "yaml"))
    except SpecError:
        return
    accepted_specs_fold(sequence)


@FUZZ
@given(st.sampled_from(sorted(spec())), st.sampled_from(["json", "yaml"]))
def test_a_key_given_twice_is_refused(key, kind):
    good = json.dumps(spec())
    text = good[:-1] + f", {json.dumps(key)}: 1}}"
    if kind == "yaml":
        text = yaml.safe_dump(spec()) + f"{key}: 1\n"
    with pytest.raises(SpecError, match="appears twice"):
        read_document(text.encode(), f"spec.{kind}", yaml_ok=kind == "yaml")


@FUZZ
@given(mutations(FARM))
def test_a_hostile_farm_config_is_a_model_or_a_spec_error(data):
    try:
        farm = parse_farm(data)
    except SpecError:
        return
    assert finite(farm.model_dump())


@FUZZ
@given(mutations(mapping()))
def test_a_hostile_scene_mapping_is_a_model_or_an_editorial_error(data):
    cut = read_otio(_timeline([("a", 0.0, 12.0), ("b", 0.0, 8.0)]), "cut.otio")
    try:
        imported = build_sequence(cut, parse_mapping(data))
    except SpecError:  # EditorialError included
        return
    accepted_specs_fold(imported.spec)


def _timeline(clips: list[tuple[str, float, float]], rate: float = 24.0) -> bytes:
    track = otio.schema.Track(name="V1")
    for name, start, duration in clips:
        rng = otio.opentime.TimeRange(otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(duration, rate))
        track.append(otio.schema.Clip(name=name, source_range=rng))
    return otio.adapters.write_to_string(otio.schema.Timeline(tracks=[track]), "otio_json").encode()


TIMES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**16), 10**16).map(float))


@FUZZ
@given(
    st.lists(st.tuples(st.text(max_size=300), TIMES, TIMES), min_size=1, max_size=4),
    st.one_of(st.sampled_from([24.0, 23.976, 0.0, -24.0, math.nan, math.inf, 1e-300]), st.floats(0.001, 1000)),
)
def test_a_hostile_otio_cut_is_a_cut_or_an_editorial_error(clips, rate):
    try:
        data = _timeline(clips, rate)
    except Exception:  # OTIO itself refused to build it: nothing to read
        return
    try:
        cut = read_otio(data, "cut.otio")
    except EditorialError:
        return
    assert finite(cut.model_dump(mode="json"))
    try:
        imported = build_sequence(cut, parse_mapping(mapping()))
    except SpecError:
        return
    accepted_specs_fold(imported.spec)


# -- through the real API ---------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with local_server(tmp_path_factory.mktemp("fuzz")) as server:
        yield server


def _accepted_or_refused(c, body: bytes, headers: dict[str, str]) -> None:
    before = c.get("/healthz").json()["log_position"]
    r = c.post("/v1/sequences", content=body, headers=headers)
    assert r.status_code < 500, r.text[:500]
    if r.status_code >= 400:
        payload = r.json()
        assert payload["error"] and isinstance(payload["problems"], list)
        assert c.get("/healthz").json()["log_position"] == before  # nothing refused is stored
    health = c.get("/healthz").json()
    assert health["status"] == "ok", health


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 10**6), mutations(spec(shot("sh010", 1001, 1004))), st.sampled_from(["json", "yaml"]))
def test_the_api_answers_every_hostile_spec_with_2xx_or_4xx_and_stores_no_reject(live, n, data, kind):
    if isinstance(data, dict):
        data = data | {"show": "other", "sequence": f"fz{n}"}  # a fresh id: a good spec is accepted, not a 409
    if kind == "json":
        body, headers = json.dumps(data).encode(), {"Content-Type": "application/json"}
    else:
        body, headers = yaml.safe_dump(data).encode(), {"Content-Type": "application/yaml"}
    with live.client(OTHER) as c:
        _accepted_or_refused(c, body, headers)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=2000) | st.text(max_size=2000).map(str.encode))
def test_the_api_answers_arbitrary_bytes_with_a_4xx(live, body):
    with live.client(OTHER) as c:
        for kind in ("application/json", "application/yaml"):
            _accepted_or_refused(c, body, {"Content-Type": kind})
