"""The error every input reader raises: the source, and each problem at its field path."""

from __future__ import annotations

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
