"""The published schema is no looser than validation: every number, string, list and map in it is bounded.

Schemathesis and every client generate from this document, so a bound the
validator enforces but the schema does not state would let a generator (or a
client) believe a hostile value is fine.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.api.support import local_app


def unbounded(node: Any, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        kind = node.get("type")
        fixed = "const" in node or "enum" in node
        if kind in ("number", "integer") and not fixed:
            has_lo = "minimum" in node or "exclusiveMinimum" in node
            has_hi = "maximum" in node or "exclusiveMaximum" in node
            if not (has_lo and has_hi):
                found.append(f"{path}: a number without both bounds")
        if kind == "string" and not fixed and not ("maxLength" in node or "pattern" in node or "format" in node and "maxLength" in node):
            found.append(f"{path}: a string without maxLength or pattern")
        if kind == "array" and "maxItems" not in node:
            found.append(f"{path}: a list without maxItems")
        if kind == "object" and node.get("additionalProperties") not in (None, False) and "maxProperties" not in node:
            found.append(f"{path}: a map without maxProperties")
        for key, value in node.items():
            found += unbounded(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += unbounded(value, f"{path}[{i}]")
    return found


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> dict[str, Any]:
    app, coordinator = local_app(tmp_path_factory.mktemp("schema"))
    try:
        return app.openapi()
    finally:
        asyncio.run(coordinator.shutdown())


def spec_models(schema: dict[str, Any]) -> dict[str, Any]:
    """The Sequence spec and every model it is built from, as the API publishes them."""
    components = schema["components"]["schemas"]
    names, todo = set(), ["Sequence"]
    while todo:
        name = todo.pop()
        if name in names:
            continue
        names.add(name)
        text = repr(components[name])
        todo += [ref.split("'")[0] for ref in text.split("#/components/schemas/")[1:]]
    return {n: components[n] for n in sorted(names)}


def test_every_value_of_the_published_sequence_spec_is_bounded(published):
    models = spec_models(published)
    assert {"Sequence", "Shot", "Scene", "CameraKey", "CDL"} <= set(models)
    assert [p for name, model in models.items() for p in unbounded(model, name)] == []


def test_the_bounds_the_schema_states_are_the_limits_module_s(published):
    from pipelines.spec import limits

    shot = published["components"]["schemas"]["Sequence"]["properties"]["shots"]
    assert shot["maxItems"] == limits.MAX_SHOTS
    frames = published["components"]["schemas"]["FrameRange"]["properties"]["last"]
    assert frames["maximum"] == limits.MAX_FRAME
