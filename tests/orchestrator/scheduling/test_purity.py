"""The scheduling package is pure: no Ray, no nodes, no torch, no clock, no sleeping."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import orchestrator.scheduling

PACKAGE = Path(orchestrator.scheduling.__file__).parent
FORBIDDEN = {"ray", "nodes", "torch", "time", "datetime", "asyncio", "sqlite3", "prometheus_client", "random"}
# The simulator draws durations from seeded generators; nothing else may be random.
ALLOWED = {"simulate.py": {"random"}, "workload.py": {"random"}}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_scheduling_modules_import_nothing_impure(path):
    assert imports(path) & (FORBIDDEN - ALLOWED.get(path.name, set())) == set()


def test_the_check_sees_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import time\nfrom ray import remote\n")
    assert imports(bad) & FORBIDDEN == {"time", "ray"}
