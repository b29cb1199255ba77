"""`shotfarm engines`: every engine installed here, what it needs, and whether it can render on this machine.

Engines are plug-ins found by entry point (pipelines.render.engines.registry);
one that fails to import is listed with the reason, never raised. This
command reads declarations only: it must never import torch, Ray or an
engine's runtime, so it answers at once on a machine without them.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pipelines.render.engines import registry


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--output", choices=("text", "json"), default="text",
        help="json: one JSON document on stdout and nothing else there",
    )  # fmt: skip


def document(entry: registry.Declared) -> dict[str, Any]:
    """One engine as `--output json` lists it."""
    info, why = entry.info, entry.why_unusable()
    return {
        "name": entry.name,
        "entry_point": entry.target,
        "usable": why is None,
        "why_not": why,
        "summary": info.summary if info else None,
        "devices": list(info.devices) if info else [],
        "environment": info.environment if info else None,
        "reads": list(info.reads) if info else [],
        "returns": list(info.returns) if info else [],
    }


def lines(entries: tuple[registry.Declared, ...]) -> list[str]:
    """The listing as a TD reads it: one block per engine, usable ones saying so, the others why not."""
    if not entries:
        return ["no engines are installed (none declares a shotfarm.engines entry point)"]
    out: list[str] = []
    for d in map(document, entries):
        state = "usable here" if d["usable"] else f"NOT usable here: {d['why_not']}"
        out.append(f"{d['name']:<14}{state}")
        if d["summary"]:
            out.append(f"    {d['summary']}")
            environment = d["environment"] or "the farm's own"
            out.append(f"    devices: {', '.join(d['devices'])}   environment: {environment}")
            out.append(f"    reads: {', '.join(d['reads']) or '-'}   returns: {', '.join(d['returns']) or '-'}")
        else:
            out.append(f"    declared by {d['entry_point']}")
    return out


def main(args: argparse.Namespace) -> int:
    entries = registry.available()
    if args.output == "json":
        sys.stdout.write(json.dumps({"engines": [document(e) for e in entries]}, indent=2) + "\n")
    else:
        print("\n".join(lines(entries)))
    return 0
