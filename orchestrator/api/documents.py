"""Reading JSON and YAML documents from request bodies and uploads, safely.

YAML is parsed without aliases: an alias can make a small document expand
into an enormous tree for validation to walk (a "billion laughs"). Deep
nesting, bad UTF-8 and syntax errors all become a SpecError naming the
source, never a 500.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from pipelines.spec.loading import SpecError

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


class _NoAliases(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not accepted", mark)
        return super().compose_node(parent, index)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def parse_document(data: bytes, source: str, yaml_ok: bool = True) -> Any:
    """JSON, or YAML when allowed (JSON is YAML, so a YAML reader takes both)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SpecError(source, [("", f"not UTF-8 text (byte {e.start})")]) from None
    try:
        if not yaml_ok:
            return json.loads(text)
        return yaml.load(text, Loader=_NoAliases)  # noqa: S506 (a SafeLoader subclass)
    except json.JSONDecodeError as e:
        raise SpecError(source, [("", f"cannot parse at line {e.lineno}, column {e.colno}: {e.msg}")]) from None
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        raise SpecError(source, [("", f"cannot parse{at}: {getattr(e, 'problem', None) or e}")]) from None
    except RecursionError:
        raise SpecError(source, [("", "nested too deeply")]) from None
