"""The Blender engine: shots from a studio's .blend, one warm Blender process per render slot.

Declared here without importing the engine (nor numpy, OpenEXR or OCIO), so
the farm can list it cheaply; `build` imports the rest. Blender itself (bpy
5.0.1, which pins numpy<2) lives in its own environment, `.venv-blender`,
made by `make blender`, and runs in its own process (worker.py).
"""

from __future__ import annotations

from pipelines.render.engines.base import CAMERA, DEPTH, OBJECTS, PIXELS, Engine, EngineContext, EngineInfo
from pipelines.render.engines.blender.process import ENVIRONMENT, blender_python


def _build(context: EngineContext) -> Engine:
    from pipelines.render.engines.blender.engine import BlenderEngine

    return BlenderEngine(context)


def _environment() -> str:
    python = blender_python()
    return str(python.parent.parent) if python is not None else ENVIRONMENT


def _probe() -> str | None:
    python = blender_python()
    if python is None or not python.is_file():
        where = f" (looked for {python})" if python is not None else ""
        return f"the Blender environment is missing{where}; run `make blender` or set SHOTFARM_BLENDER_PYTHON"
    return None


INFO = EngineInfo(
    name="blender",
    summary="Cycles renders of a .blend set through one warm Blender (bpy 5.0.1) per render slot",
    build=_build,
    devices=("cpu", "cuda"),
    environment=_environment(),
    reads=("scene.blend", "blender.camera", "blender.frame_offset", "blender.passes", "blender.camera_move", "resolution", "samples", "seed"),
    returns=(PIXELS, CAMERA, DEPTH, OBJECTS),
    probe=_probe,
)
