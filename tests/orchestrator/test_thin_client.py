"""The client side of the farm stays thin: asking for help, checking a spec or talking to a server loads no torch, Ray or PIL.

A studio installs the CLI on artists' workstations and in CI jobs that only
submit; loading a renderer's stack there costs seconds per call and pulls
in GPU libraries for nothing. Each case runs in a fresh interpreter, since
this one has long since imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.builders import spec

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "ray", "PIL")
COMMAND = """
import json, sys
sys.argv = ["shotfarm", *json.loads(sys.argv[1])]
try:
    from orchestrator.interfaces.cli import main
    code = main()
except SystemExit as e:
    code = e.code
print(json.dumps({"code": code, "heavy": sorted(m for m in HEAVY if m in sys.modules)}), file=sys.stderr)
"""


def heavy_modules_after(code: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{code}", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stderr.strip().splitlines()[-1])


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec()))
    return path


UNREACHABLE = ["--server", "http://127.0.0.1:9", "--token", "t" * 24]


@pytest.mark.parametrize(
    "argv, code",
    [
        (["--help"], 0),
        (["--version"], 0),
        (["validate", "{spec}"], 0),
        (["validate", "{spec}", "--output", "json"], 0),
        (["submit", "{spec}", *UNREACHABLE], 1),
        (["status", *UNREACHABLE], 1),
        (["status", "demo:sq010", "--output", "json", *UNREACHABLE], 1),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_a_client_command_loads_no_torch_ray_or_pil(spec_file, argv, code):
    argv = [a.replace("{spec}", str(spec_file)) for a in argv]
    seen = heavy_modules_after(COMMAND, json.dumps(argv))
    assert seen == {"code": code, "heavy": []}


def test_the_sdk_loads_no_torch_ray_or_pil():
    code = "import json, sys\nimport orchestrator.interfaces.sdk\nprint(json.dumps({'heavy': sorted(m for m in HEAVY if m in sys.modules)}), file=sys.stderr)"
    assert heavy_modules_after(code) == {"heavy": []}


def test_the_check_can_fail_a_command_that_renders():
    # The probe itself must see a heavy import when there is one, or the tests above prove nothing.
    code = "import json, sys\nimport orchestrator.interfaces.embedded\nprint(json.dumps({'heavy': sorted(m for m in HEAVY if m in sys.modules)}), file=sys.stderr)"
    assert "ray" in heavy_modules_after(code)["heavy"]
