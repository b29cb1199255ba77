"""The error every input reader raises: the source, and each problem at its field path."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from pipelines.spec import limits

MAX_PROBLEMS = 50
"""Problems listed in one error; the rest are counted. A TD reads the first
few, and a hostile document of a million bad items must not make a
megabytes-long answer."""


class SpecError(Exception):
    """An input that cannot be used; `problems` are (field path, message) pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        if len(problems) > MAX_PROBLEMS:
            more = len(problems) - MAX_PROBLEMS
            problems = [*problems[:MAX_PROBLEMS], ("", f"... and {more:,} more problem(s)")]
        self.problems = problems
        super().__init__(self.render())

    def __reduce__(self):  # keep source and problems across a process boundary (Ray)
        return (type(self), (self.source, self.problems))

    def render(self) -> str:
        if len(self.problems) == 1:  # one line for one problem
            path, msg = self.problems[0]
            return f"{self.source}: {path + ': ' if path else ''}{msg}"
        lines = [f"{self.source}: {len(self.problems)} problem(s)"]
        lines += [f"  {path or '(top level)'}: {msg}" for path, msg in self.problems]
        return "\n".join(lines)


class DocumentTooLarge(SpecError):
    """A document over its byte limit, refused before it was decoded (the API answers 413)."""


def field_path(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location as `shots[2].frames.last`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def clean_message(err: Any) -> str:
    """pydantic's message as a TD reads it: 'unknown field', no 'Value error, ', the limit named."""
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        return "unknown field"
    return limits.named(err["type"], tuple(err["loc"]), msg.removeprefix("Value error, "))


def problems_of(e: ValidationError) -> list[tuple[str, str]]:
    """(field path, message) for each of a spec model's validation errors."""
    errors = _without_echoes(e.errors(include_input=False))
    return [(field_path(_discriminated(err["loc"])), clean_message(err)) for err in errors]


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
