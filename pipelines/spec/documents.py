"""Reading JSON and YAML documents that nobody has checked yet.

Every spec, scene mapping and farm config, from a file or a request body,
comes through `read_document`, which bounds the work before it is done:

1. the byte size, before decoding;
2. the nesting depth, by a linear scan of the text (JSON) or of the parser's
   event stream (YAML), before any recursive composer or validator runs, so
   no document can exhaust the stack;
3. aliases are refused (a "billion laughs" expands a small document into an
   enormous tree), and so are duplicate keys (the second silently won);
4. after parsing, one iterative walk bounds every list, mapping and string
   and the whole value count, and refuses NaN and infinity, naming the path.

So the models that validate the result see a tree of bounded size, and the
work of validating it is linear in the bytes. Nothing here recurses.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import yaml

from pipelines.spec import limits
from pipelines.spec.errors import DocumentTooLarge, SpecError, field_path

try:  # libyaml scans far faster; the pure-Python scanner gives the same events
    _Parser: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover (wheels ship libyaml)
    _Parser = yaml.SafeLoader

_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
_JSON_SIGNIFICANT = re.compile(r'[\[\]{}"\\]')


def _problem(source: str, message: str, path: str = "") -> SpecError:
    return SpecError(source, [(path, message)])


def decode(data: bytes, source: str, max_bytes: int = limits.MAX_DOCUMENT_BYTES) -> str:
    """UTF-8 text of at most `max_bytes` bytes, or a SpecError saying which bound it broke."""
    if len(data) > max_bytes:
        raise DocumentTooLarge(source, [("", f"is {len(data):,} bytes, over the limit of {max_bytes:,}")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _problem(source, f"not UTF-8 text (byte {e.start})") from None


def check_json_depth(text: str, source: str, max_depth: int = limits.MAX_DEPTH) -> None:
    """Refuse JSON text nested deeper than `max_depth`, by one pass over its brackets.

    Only brackets, quotes and backslashes are visited; brackets inside
    strings do not count. Linear in the text, whatever the text is.
    """
    depth, in_string, skip = 0, False, -1
    for match in _JSON_SIGNIFICANT.finditer(text):
        at = match.start()
        if at == skip:
            continue
        c = match.group()
        if in_string:
            if c == "\\":
                skip = at + 1  # the escaped character, whatever it is
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            if depth > max_depth:
                line = text.count("\n", 0, at) + 1
                raise _problem(source, f"nested more than {max_depth} levels deep (at line {line}; MAX_DEPTH)")
        elif c in "]}":
            depth -= 1


def _check_yaml_events(text: str, source: str, max_depth: int) -> None:
    depth, count = 0, 0
    try:
        for event in yaml.parse(text, Loader=_Parser):
            count += 1
            if count > 4 * limits.MAX_NODES:
                raise _problem(source, f"holds more than {limits.MAX_NODES:,} values")
            if isinstance(event, yaml.AliasEvent):
                mark = event.start_mark
                raise _problem(source, f"aliases (*name) are not accepted (line {mark.line + 1})")
            if isinstance(event, _OPEN):
                depth += 1
                if depth > max_depth:
                    raise _problem(source, f"nested more than {max_depth} levels deep (at line {event.start_mark.line + 1})")
            elif isinstance(event, _CLOSE):
                depth -= 1
    except yaml.YAMLError as e:
        raise _syntax(source, e, max_depth) from None


def _syntax(source: str, e: yaml.YAMLError, max_depth: int = limits.MAX_DEPTH) -> SpecError:
    if "nesting depth" in str(getattr(e, "problem", "")):  # libyaml's own bound, met while scanning ahead
        return _problem(source, f"nested more than {max_depth} levels deep (MAX_DEPTH)")
    where = getattr(e, "problem_mark", None)
    at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
    return _problem(source, f"cannot parse{at}: {getattr(e, 'problem', None) or e}")


class _UniqueKeys(_Parser):  # type: ignore[misc, valid-type]
    """The safe loader, refusing a mapping that names a key twice."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                repeated = key in seen
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value", key_node.start_mark
                ) from None
            if repeated:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {str(key)[:64]!r} appears twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key[:64]!r} appears twice in one object")
        out[key] = value
    return out


def parse_text(text: str, source: str, yaml_ok: bool = True, max_depth: int = limits.MAX_DEPTH) -> Any:
    """JSON (or YAML, when allowed: JSON is YAML too), depth-checked before parsing."""
    if yaml_ok:
        _check_yaml_events(text, source, max_depth)
        try:
            return yaml.load(text, Loader=_UniqueKeys)  # noqa: S506 (a SafeLoader subclass)
        except yaml.YAMLError as e:
            raise _syntax(source, e) from None
        except RecursionError:  # unreachable after the depth check; kept so it can never be a traceback
            raise _problem(source, "nested too deeply") from None
    check_json_depth(text, source, max_depth)
    try:
        return json.loads(text, object_pairs_hook=_json_pairs)  # NaN parses; check_shape names where
    except json.JSONDecodeError as e:
        raise _problem(source, f"cannot parse at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except ValueError as e:
        raise _problem(source, f"cannot parse: {e}") from None
    except RecursionError:
        raise _problem(source, "nested too deeply") from None


def check_shape(data: Any, source: str, max_depth: int = limits.MAX_DEPTH) -> None:
    """Bound every container, string and number of a parsed document, iteratively.

    Raises a SpecError naming the first path that breaks a bound. Numbers
    must be finite; strings at most MAX_STRING characters; lists and
    mappings at most MAX_ITEMS entries; the document at most MAX_NODES values.
    """
    stack: list[tuple[tuple[int | str, ...], Any]] = [((), data)]
    seen = 0
    while stack:
        path, value = stack.pop()
        seen += 1
        if seen > limits.MAX_NODES:
            raise _problem(source, f"holds more than {limits.MAX_NODES:,} values (MAX_NODES)")
        if len(path) > max_depth:
            raise _problem(source, f"nested more than {max_depth} levels deep (MAX_DEPTH)", field_path(path))
        if isinstance(value, float) and not math.isfinite(value):
            raise _problem(source, f"{value} is not a finite number", field_path(path))
        elif isinstance(value, str):
            if len(value) > limits.MAX_STRING:
                raise _problem(source, f"a string of {len(value):,} characters is over the limit of {limits.MAX_STRING:,} (MAX_STRING)", field_path(path))
        elif isinstance(value, dict | list):
            if len(value) > limits.MAX_ITEMS:
                raise _problem(source, f"{len(value):,} entries are over the limit of {limits.MAX_ITEMS:,} (MAX_ITEMS)", field_path(path))
            # Pushed in reverse, so the first problem found is the first in the document.
            if isinstance(value, list):
                stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(value))))
            else:
                for k, v in reversed(list(value.items())):
                    if isinstance(k, str) and len(k) > limits.MAX_STRING:
                        raise _problem(source, f"a key of {len(k):,} characters is over the limit (MAX_STRING)", field_path(path))
                    stack.append(((*path, str(k)), v))


def read_document(
    data: bytes | str,
    source: str,
    yaml_ok: bool = True,
    max_bytes: int = limits.MAX_DOCUMENT_BYTES,
    max_depth: int = limits.MAX_DEPTH,
) -> Any:
    """A bounded, parsed document, or a SpecError naming the source (and the path where known)."""
    text = decode(data.encode() if isinstance(data, str) else data, source, max_bytes)
    parsed = parse_text(text, source, yaml_ok, max_depth)
    check_shape(parsed, source, max_depth)
    return parsed
