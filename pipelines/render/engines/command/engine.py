"""The command engine: a shot's DCC run once per chunk, its EXRs read back as the farm's frames.

`load` checks everything that can be checked before a frame is rendered
(the template, the program, the scene file, the colour space) and raises
ValueError naming the field: such a shot never renders, so the farm fails it
for good. `render_chunk` runs the program in a fresh scratch folder, then
reads every frame it was asked for, in order; any failure there is a
RuntimeError (transient): a crash, a hang, a frame not written.

The program is told the timeline frames; a scene whose own frame numbers
differ takes the offset in its render script.

Watched objects: a render script that knows where things are may write
them into each EXR as the farm itself stores them, a string attribute
`shotfarm/objects` holding JSON {"name": [x, y, z]} in the farm's world
(Y up, metres); the subject's position there lets the continuity rules
stage a command-line shot (pipelines.continuity.staging). It is parsed as
the farm parses its own frames (pipelines.render.reported): bounded, finite,
a damaged one ignored.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipelines.render.engines.base import EngineContext, RenderedFrame
from pipelines.render.engines.command import camera, frames, process, template
from pipelines.render.engines.command.colour import ToACEScg, declared
from pipelines.render.reported import reported
from pipelines.spec.setup import ShotSetup
from pipelines.spec.sources import CommandSet

NAME = "command"
OBJECTS_ATTRIBUTE = "shotfarm/objects"
MAX_OBJECTS_TEXT = 64 * 1024


@dataclass(frozen=True)
class _Loaded:
    setup: ShotSetup
    command: CommandSet
    line: template.CommandLine
    to_acescg: ToACEScg


class CommandEngine:
    """Any DCC behind the Engine protocol. Holds no process between chunks: each chunk is one run."""

    name = NAME

    def __init__(self, context: EngineContext) -> None:
        self._context = context
        self._loaded: _Loaded | None = None

    def load(self, setup: ShotSetup) -> None:
        command = setup.scene.command
        if command is None:
            raise ValueError(f"shot {setup.shot}: the command engine renders scenes with scene.command; this shot's scene has none")
        line = template.parse(command.argv, command.file, command.subject)
        self._loaded = _Loaded(setup=setup, command=command, line=line, to_acescg=ToACEScg(command.colour_space))

    def render_chunk(self, first: int, last: int) -> Iterator[RenderedFrame]:
        loaded = self._loaded
        if loaded is None:
            raise RuntimeError("load a shot setup before rendering")
        if not 0 <= first <= last:
            raise ValueError(f"a chunk is frames first..last with 0 <= first <= last, got {first}..{last}")
        setup = loaded.setup
        scratch = Path(self._context.scratch)
        scratch.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"command-{setup.shot}-{first}-{last}-", dir=scratch))
        try:
            (folder / "frames").mkdir()
            width, height = setup.resolution
            chunk = template.Chunk(
                first=first, last=last, output=str(folder / "frames" / f"{setup.shot}.{template.FRAME_TOKEN}.exr"),
                width=width, height=height, samples=setup.samples, threads=max(1, self._context.threads),
            )
            label = f"{setup.shot} frames {first}-{last}"
            finished = process.run(loaded.line.argv(chunk), cwd=folder, timeout_s=loaded.command.timeout_s, label=label)
            process.log.info("%s: the program finished in %.1f s; reading its frames", label, finished.seconds)
            attributes = _provenance(loaded)
            # Each problem is logged for the first frame that has it, not for every frame of the chunk.
            warned_colour = warned_camera = False
            for frame in range(first, last + 1):
                foreign = frames.read(chunk.frame_path(frame), frame, (width, height))
                warned_colour = warned_colour or _disagrees(foreign.header, loaded.to_acescg.source, f"{label}: frame {frame}")
                seen = camera.read(foreign.header)
                if seen.problem and not warned_camera:
                    warned_camera = True
                    process.log.warning("%s: frame %d: %s; no camera reported", label, frame, seen.problem)
                yield RenderedFrame(
                    frame=frame,
                    pixels=loaded.to_acescg(foreign.pixels),
                    camera=seen.pose,
                    objects=_watched(foreign.header),
                    attributes={**attributes, "layer": foreign.layer.rstrip(".") or "R,G,B"},
                )
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        self._loaded = None


def _disagrees(header: dict[str, object], spec_space: str, what: str) -> bool:
    """Warn when a frame names another colour space than the spec's; True when it did."""
    says = declared(header.get("colorInteropID"))
    if says is None or says == spec_space:
        return False
    process.log.warning("%s says it holds %s (colorInteropID) but scene.command.colour_space is %s; converting from %s", what, says, spec_space, spec_space)
    return True


def _watched(header: dict[str, object]) -> dict[str, tuple[float, float, float]]:
    text = header.get(OBJECTS_ATTRIBUTE)
    if isinstance(text, str | bytes) and len(text) > MAX_OBJECTS_TEXT:
        return {}  # a report that size is not a handful of positions: not worth parsing
    return dict(reported(header).objects)


def _provenance(loaded: _Loaded) -> dict[str, str]:
    convert = loaded.to_acescg
    return {
        "program": Path(loaded.line.program).name,
        "colour_space": convert.source,
        "colour": "as written" if convert.identity else f"{convert.source} -> ACEScg (OCIO)",
    }
