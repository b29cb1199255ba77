"""A DCC's command line as a spec writes it, checked once and filled per chunk.

`scene.command.argv` is a template: each argument is literal text with
placeholders in braces, filled per chunk. `{{` and `}}` are literal braces.

    {scene}   the scene file (scene.command.file), as an absolute path
    {first}   first timeline frame of the chunk
    {last}    last timeline frame of the chunk
    {count}   frames in the chunk (for programs that take a start and a count)
    {output}  where to write frame N: an absolute path with #### for N, zero-padded to 4 digits
              ({output_f4}: the same path with Houdini's $F4, for husk;
               {output_printf}: with %04d, for printf-style programs)
    {width}   frame width in pixels (the sequence's resolution)
    {height}  frame height in pixels
    {samples} samples per pixel the sequence asks of this shot
    {threads} CPU threads the node gives the program
    {subject} the object the shot is about (scene.command.subject), for a
              render script that reports its position (see engine.py)

The program runs in a scratch folder, not in the node's working directory,
so relative paths are made absolute when the shot loads: argv[0] (looked up
on PATH when it has no slash), the scene file, and every literal argument
that names a file or folder that exists relative to the node's working
directory (a render script beside the spec, say).

This module runs nothing; it only parses and fills.
"""

from __future__ import annotations

import os
import shutil
import string
from dataclasses import dataclass
from pathlib import Path

FRAME_TOKEN = "####"
OUTPUTS = {"output": FRAME_TOKEN, "output_f4": "$F4", "output_printf": "%04d"}
"""The output placeholders and how each spells the zero-padded frame number; a template needs one."""
PLACEHOLDERS = ("scene", "first", "last", "count", *OUTPUTS, "width", "height", "samples", "threads", "subject")
_FIELD = "scene.command.argv"


@dataclass(frozen=True)
class Chunk:
    """What one call of the program is for."""

    first: int
    last: int
    output: str
    """Absolute path with FRAME_TOKEN where the frame number goes."""
    width: int
    height: int
    samples: int
    threads: int

    def frame_path(self, frame: int) -> Path:
        return Path(self.output.replace(FRAME_TOKEN, f"{frame:04d}"))


@dataclass(frozen=True)
class CommandLine:
    """A checked template: the program resolved, each argument split into literal text and placeholders."""

    program: str
    """Absolute path of argv[0]."""
    scene: str
    """Absolute path of the scene file."""
    subject: str
    arguments: tuple[tuple[tuple[str, str | None], ...], ...]
    """argv[1:], each as (literal text, placeholder or None) pieces."""

    def argv(self, chunk: Chunk) -> list[str]:
        values = {
            "scene": self.scene,
            "first": str(chunk.first),
            "last": str(chunk.last),
            "count": str(chunk.last - chunk.first + 1),
            **{name: chunk.output.replace(FRAME_TOKEN, token) for name, token in OUTPUTS.items()},
            "width": str(chunk.width),
            "height": str(chunk.height),
            "samples": str(chunk.samples),
            "threads": str(chunk.threads),
            "subject": self.subject,
        }
        return [self.program, *("".join(text + (values[name] if name else "") for text, name in pieces) for pieces in self.arguments)]


def parse(argv: tuple[str, ...], scene_file: str, subject: str | None = None, cwd: Path | None = None) -> CommandLine:
    """Check a template against the node's disk; every problem names the argument that holds it.

    Raises ValueError: an unknown placeholder, a format spec or conversion
    ({first:04d}), unbalanced braces, no {output}, {subject} without a
    subject, a placeholder in argv[0], a program not found, or a scene file
    that does not exist.
    """
    here = Path.cwd() if cwd is None else cwd
    if not argv:
        raise ValueError(f"{_FIELD}: the command line is empty")
    arguments = tuple(_pieces(arg, i) for i, arg in enumerate(argv))
    if any(name for _, name in arguments[0]):
        raise ValueError(f"{_FIELD}[0]: the program is not a template, got {argv[0]!r}")
    if not any(name in OUTPUTS for pieces in arguments for _, name in pieces):
        raise ValueError(f"{_FIELD}: {{output}} (or {{output_f4}}, {{output_printf}}) is required: the program must be told where to write its frames")
    for i, pieces in enumerate(arguments):
        if subject is None and any(name == "subject" for _, name in pieces):
            raise ValueError(f"{_FIELD}[{i}]: uses {{subject}}, but scene.command.subject names no object")
    program = _program(argv[0], here)
    scene = (here / scene_file).resolve()
    if not scene.is_file():
        raise ValueError(f"scene.command.file: no such file on this node: {scene}")
    rest = tuple(_absolute(pieces, here) for pieces in arguments[1:])
    return CommandLine(program=program, scene=str(scene), subject=subject or "", arguments=rest)


def _pieces(arg: str, index: int) -> tuple[tuple[str, str | None], ...]:
    try:
        parsed = list(string.Formatter().parse(arg))
    except ValueError as e:  # "Single '}' encountered", "unmatched '{'"
        raise ValueError(f"{_FIELD}[{index}]: {e} in {arg!r} (write {{{{ and }}}} for literal braces)") from None
    out: list[tuple[str, str | None]] = []
    for text, name, spec, conversion in parsed:
        if name is not None:
            if name not in PLACEHOLDERS:
                raise ValueError(f"{_FIELD}[{index}]: unknown placeholder {{{name}}} in {arg!r}; known: " + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS))
            if spec or conversion:
                raise ValueError(f"{_FIELD}[{index}]: placeholders take no format in {arg!r}; write {{{name}}}")
        out.append((text, name))
    return tuple(out)


def _program(name: str, here: Path) -> str:
    if os.sep in name:
        path = (here / name).absolute()  # not resolved: a venv's python is a symlink that must stay one
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        raise ValueError(f"{_FIELD}[0]: the program {name!r} is not an executable file on this node ({path})")
    found = shutil.which(name)
    if found is None:
        raise ValueError(f"{_FIELD}[0]: the program {name!r} is not found on PATH on this node")
    return str(Path(found).absolute())


def _absolute(pieces: tuple[tuple[str, str | None], ...], here: Path) -> tuple[tuple[str, str | None], ...]:
    if len(pieces) != 1 or pieces[0][1] is not None:
        return pieces
    text = pieces[0][0]
    if not text or text.startswith("-") or os.path.isabs(text) or not (here / text).exists():
        return pieces
    return ((str((here / text).absolute()), None),)
