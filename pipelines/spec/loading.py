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
from pipelines.spec.errors import SpecError, field_path, problems_of
from pipelines.spec.sequence import Sequence

__all__ = ["SpecError", "field_path", "parse_sequence", "load_text", "load_sequence", "read_file"]


def parse_sequence(data: Any, source: str = "<spec>") -> Sequence:
    if not isinstance(data, dict):
        raise SpecError(source, [("", f"expected a mapping at the top level, got {type(data).__name__}")])
    try:
        return Sequence.model_validate(data)
    except ValidationError as e:
        raise SpecError(source, problems_of(e)) from None


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
