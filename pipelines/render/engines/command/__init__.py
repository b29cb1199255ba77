"""The command engine's declaration: any DCC that renders EXRs from its command line (husk, kick, nuke -x, blender -b).

A scene names its file and the program's argv template in `scene.command`
(pipelines.spec.sources.CommandSet); the template's placeholders are listed
in pipelines.render.engines.command.template. The program is checked when a
shot loads, not here: `shotfarm engines` lists this engine as usable on any
node, and a shot whose program a node lacks fails at load naming it.

This module is read by `shotfarm engines`: the engine, OpenEXR and OCIO load
only when an engine is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelines.render.engines.base import CAMERA, OBJECTS, PIXELS, EngineContext, EngineInfo

if TYPE_CHECKING:
    from pipelines.render.engines.command.engine import CommandEngine

NAME = "command"


def _build(context: EngineContext) -> CommandEngine:
    from pipelines.render.engines.command.engine import CommandEngine

    return CommandEngine(context)


INFO = EngineInfo(
    name=NAME,
    summary="Any DCC's command line (husk, kick, nuke -x, blender -b): one run per chunk, its EXRs read back and converted to ACEScg",
    build=_build,
    devices=("cpu", "cuda"),
    reads=("scene.command", "resolution"),
    returns=(PIXELS, CAMERA, OBJECTS),
)
