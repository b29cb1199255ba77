"""Reading a sequence spec from YAML or JSON, with errors a person can act on.

Every problem is reported with the file and the field path that holds it
(`shots[2].frames.last`), all at once, so a TD fixes a spec in one pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pipelines.spec.sequence import Sequence


class SpecError(Exception):
    """A spec that cannot be used; `problems` are (field path, message) pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"{self.source}: {len(self.problems)} problem(s)"]
        lines += [f"  {path or '(top level)'}: {msg}" for path, msg in self.problems]
        return "\n".join(lines)


def field_path(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location as `shots[2].frames.last`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _clean_message(err: dict[str, Any]) -> str:
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        return "unknown field"
    return msg.removeprefix("Value error, ")


def parse_sequence(data: Any, source: str = "<spec>") -> Sequence:
    if not isinstance(data, dict):
        raise SpecError(source, [("", f"expected a mapping at the top level, got {type(data).__name__}")])
    try:
        return Sequence.model_validate(data)
    except ValidationError as e:
        errors = _without_echoes(e.errors())
        problems = [(field_path(_discriminated(err["loc"])), _clean_message(err)) for err in errors]
        raise SpecError(source, problems) from None


def _without_echoes(errors: list[Any]) -> list[Any]:
    # A list whose only items are invalid also reports itself as too short;
    # that echo of the real problem would send a TD looking in the wrong place.
    def nested_under(loc: tuple) -> bool:
        return any(len(o["loc"]) > len(loc) and tuple(o["loc"][: len(loc)]) == tuple(loc) for o in errors)

    return [err for err in errors if not (err["type"] == "too_short" and nested_under(err["loc"]))]


def _discriminated(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # pydantic puts the union tag ("sphere", "diffuse") into the location; a TD
    # thinks in fields, and the tag is already in the message when it matters.
    tags = {"sphere", "plane", "box", "diffuse", "emissive", "glossy", "sun", "sky", "area"}
    return tuple(p for p in loc if not (isinstance(p, str) and p in tags))


def load_text(text: str, source: str) -> Sequence:
    try:
        data = json.loads(text) if source.endswith(".json") else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        reason = getattr(e, "problem", None) or getattr(e, "msg", None) or str(e)
        raise SpecError(source, [("", f"cannot parse{at}: {reason}")]) from None
    return parse_sequence(data, source)


def load_sequence(path: str | Path) -> Sequence:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(str(p), [("", "file not found")]) from None
    except IsADirectoryError:
        raise SpecError(str(p), [("", "is a directory, expected a YAML or JSON file")]) from None
    except (PermissionError, UnicodeDecodeError) as e:
        raise SpecError(str(p), [("", f"cannot read: {e}")]) from None
    return load_text(text, str(p))
