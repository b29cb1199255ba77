"""Property-based tests from the OpenAPI document: no input a client can send gets a 5xx.

Schemathesis generates requests for every operation from the schema (valid
and invalid bodies, ids, query values) and checks each answer: never a
server error, and a status and body the document declares. The app is the
real one over an in-process farm (no nodes), driven in-process over ASGI.
Event streams are left out: they are infinite by design (test_events.py
covers them).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.core.errors import InvalidSchema

from tests.api.support import ADMIN, bearer, local_app
from tests.builders import shot, spec

EXAMPLES = 30
# Built when the module is collected (the schema is read from the app then); the folder and
# the app live until the session ends, as schemathesis keeps the app's lifespan open.
_OUT = tempfile.TemporaryDirectory(prefix="shotfarm-schemathesis-")
_APP, _COORDINATOR = local_app(Path(_OUT.name), previs=True)
# A sequence the schema's examples name (demo:sq010, sh010, sh010>sh020), so generated requests
# reach past the id checks into every handler.
asyncio.run(_COORDINATOR.submit(spec(shot("sh010", 1001, 1008), shot("sh020", 1009, 1012, angle=60))))
CONFIG = SchemathesisConfig.from_dict(
    {
        # The examples and fuzzing phases; the coverage phase's exhaustive boundary sweep of the
        # sequence spec alone would take minutes on this machine.
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        # A spec's cross-field rules (unique names, scenes that exist, shots that do not
        # overlap) are not JSON Schema: a schema-valid spec may rightly be a 422.
        "checks": {"positive_data_acceptance": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", _APP, config=CONFIG).exclude(path_regex=r"events$")


@schema.parametrize()
# In a full suite run schemathesis 4.32 sometimes cannot build a body for the
# spec's fixed-length arrays ("Cannot generate an array with 1 demanded
# elements"): the generator's own limitation, raised before any request is
# sent. Tolerated only as that exception; any 5xx or schema mismatch still fails.
@pytest.mark.xfail(raises=InvalidSchema, strict=False, reason="schemathesis cannot generate some fixed-length arrays")
# Derandomized: the same requests every run, so a red run is reproducible, not a dice roll.
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_generated_request_gets_a_server_error(case):
    case.call_and_validate(headers=bearer(ADMIN))
