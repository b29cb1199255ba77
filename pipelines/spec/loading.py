"""Reading a sequence spec from YAML or JSON, with errors a person can act on.

Every problem is reported with the file and the field path that holds it
(`shots[2].frames.last`), all at once, so a TD fixes a spec in one pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipelines.spec import limits
from pipelines.spec.documents import read_document
from pipelines.spec.errors import SpecError, field_path
from pipelines.spec.sequence import Sequence

__all__ = ["SpecError", "field_path", "parse_sequence", "load_text", "load_sequence", "read_file"]


def clean_message(err: dict[str, Any]) -> str:
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        return "unknown field"
    return limits.named(err["type"], tuple(err["loc"]), msg.removeprefix("Value error, "))


def parse_sequence(data: Any, source: str = "<spec>") -> Sequence:
    if not isinstance(data, dict):
        raise SpecError(source, [("", f"expected a mapping at the top level, got {type(data).__name__}")])
    try:
        return Sequence.model_validate(data)
    except ValidationError as e:
        errors = _without_echoes(e.errors())
        problems = [(field_path(_discriminated(err["loc"])), clean_message(err)) for err in errors]
        raise SpecError(source, problems) from None


def _without_echoes(errors: list[Any]) -> list[Any]:
    # A list whose only items are invalid also reports itself as too short;
    # that echo of the real problem would send a TD looking in the wrong place.
    # One set of every proper prefix keeps this linear in the number of errors.
    parents = {tuple(o["loc"][:n]) for o in errors for n in range(len(o["loc"]))}
    return [err for err in errors if not (err["type"] == "too_short" and tuple(err["loc"]) in parents)]


def _discriminated(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # pydantic puts the union tag ("sphere", "diffuse") into the location; a TD
    # thinks in fields, and the tag is already in the message when it matters.
    tags = {"sphere", "plane", "box", "diffuse", "emissive", "glossy", "sun", "sky", "area"}
    return tuple(p for p in loc if not (isinstance(p, str) and p in tags))


def load_text(text: str, source: str) -> Sequence:
    return parse_sequence(read_document(text, source, yaml_ok=not source.endswith(".json")), source)


def read_file(path: str | Path, max_bytes: int = limits.MAX_DOCUMENT_BYTES) -> bytes:
    """A file's bytes, bounded before it is read; every failure a SpecError naming the file."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise SpecError(str(p), [("", "cannot read: file not found")]) from None
    except IsADirectoryError:
        raise SpecError(str(p), [("", "cannot read: is a directory, expected a YAML or JSON file")]) from None
    except OSError as e:
        raise SpecError(str(p), [("", f"cannot read: {e.strerror or e}")]) from None
    if len(data) > max_bytes:
        raise SpecError(str(p), [("", f"is over the limit of {max_bytes:,} bytes (MAX_DOCUMENT_BYTES)")])
    return data


def load_sequence(path: str | Path) -> Sequence:
    p = Path(path)
    data = read_document(read_file(p), str(p), yaml_ok=p.suffix.lower() != ".json")
    return parse_sequence(data, str(p))
