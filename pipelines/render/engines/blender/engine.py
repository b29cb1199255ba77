"""The Blender engine: shots from a .blend, rendered by one warm Blender per render slot.

load() resolves the shot's file (a path on the node, or store:KEY fetched
once into the node's scratch folder, named by its digest), starts Blender if
it is not running and sends it the shot; Blender opens the file only when it
changed, so chunk after chunk of a sequence reuses it. render_chunk() asks
for one frame at a time and reads back what Blender wrote: pixels in ACEScg,
depth when asked, the camera that looked and the watched objects.

Errors the farm acts on: ValueError for a shot that can never render (no
such file, scene, camera or object); BlenderCrashed or BlenderError for what
a retry may fix (Blender died or hung and restarts on the next request, a
GPU this machine lacks).

This module must never import bpy.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipelines.color.views import OCIO_CONFIG
from pipelines.render.engines.base import CameraPose, EngineContext, RenderedFrame
from pipelines.render.engines.blender import output
from pipelines.render.engines.blender.process import BlenderError, BlenderProcess, blender_python
from pipelines.spec.setup import ShotSetup
from pipelines.spec.sources import STORE_PREFIX

LOAD_TIMEOUT_S = 600.0
"""Opening a studio's set can take minutes (a big file, many textures)."""
FRAME_TIMEOUT_S = 3600.0
"""A frame that has not finished in an hour is a hung Blender, not a slow one."""
_DEVICES = {"cpu": "cpu", "cuda": "cuda"}
"""Farm device -> Cycles device. CUDA rather than OptiX: data-centre GPUs (H100) have no RT cores for OptiX to use."""


class BlenderEngine:
    name = "blender"

    def __init__(
        self,
        context: EngineContext,
        *,
        python: Path | None = None,
        load_timeout_s: float = LOAD_TIMEOUT_S,
        frame_timeout_s: float = FRAME_TIMEOUT_S,
    ) -> None:
        found = python or blender_python()
        if found is None:
            raise RuntimeError("no Blender environment on this node; run `make blender` or set SHOTFARM_BLENDER_PYTHON")
        self.context = context
        self.process = BlenderProcess(found)
        self.load_timeout_s = load_timeout_s
        self.frame_timeout_s = frame_timeout_s
        self._setup: ShotSetup | None = None
        self._request: dict[str, Any] | None = None
        self._loaded: dict[str, Any] = {}
        self._loaded_generation = 0

    # -- the Engine protocol --

    def load(self, setup: ShotSetup) -> None:
        if self._setup is not None and setup.digest == self._setup.digest and self._loaded:
            return
        blend, shot = setup.scene.blend, setup.blender
        if blend is None or shot is None:
            raise ValueError(f"shot {setup.shot} has no .blend set (scene.blend) and blender camera (blender.camera) to render")
        device = _DEVICES.get(self.context.device.split(":")[0])
        if device is None:
            raise ValueError(f"the Blender engine renders on cpu or cuda, not {self.context.device!r}")
        self._setup = None
        self._request = {
            "op": "load",
            "file": str(self._local_file(blend.file)),
            "scene": blend.scene,
            "camera": shot.camera,
            "resolution": list(setup.resolution),
            "samples": setup.samples,
            "seed": setup.seed,
            # A RenderedFrame has no normal channel yet: Blender is not asked for what nothing reads.
            "passes": [p for p in shot.passes if p == "depth"],
            "device": device,
            "threads": max(1, self.context.threads),
            "camera_move": None if shot.camera_move is None else shot.camera_move.model_dump(exclude_none=True, mode="json"),
            "watched": list(blend.watched),
        }
        self._send_load()
        self._setup = setup

    def render_chunk(self, first: int, last: int) -> Iterator[RenderedFrame]:
        setup = self._setup
        if setup is None or setup.blender is None:
            raise RuntimeError("render_chunk before a successful load")
        folder = self.context.scratch / "blender"
        folder.mkdir(parents=True, exist_ok=True)
        for frame in range(first, last + 1):
            if not self.process.running or self._loaded_generation != self.process.generation:
                self._send_load()  # a fresh Blender after a crash has nothing open
            blender_frame = frame + setup.blender.frame_offset
            out = folder / f"{_safe(setup.shot)}.{frame}.exr"
            answer = self.process.request({"op": "render", "frame": blender_frame, "output": str(out)}, self.frame_timeout_s)
            try:
                image = output.read(out, self._loaded["layer"], self._loaded["working_space_interop_id"], depth="depth" in setup.blender.passes)
            finally:
                out.unlink(missing_ok=True)
            yield self._frame(setup, frame, blender_frame, answer, image)

    def close(self) -> None:
        self.process.close()
        self._loaded = {}

    # -- helpers --

    def _send_load(self) -> None:
        assert self._request is not None
        self._loaded = {}
        self._loaded = self.process.request(self._request, self.load_timeout_s)
        self._loaded_generation = self.process.generation

    def _local_file(self, file: str) -> Path:
        """A path on this node: the path itself, or store:KEY fetched once into scratch, named by its digest."""
        if not file.startswith(STORE_PREFIX):
            return Path(file).expanduser().resolve()
        key = file[len(STORE_PREFIX) :]
        if self.context.fetch is None:
            raise ValueError(f"{file}: this node has no store to read the scene file from")
        try:
            data = self.context.fetch(key)
        except (KeyError, FileNotFoundError):  # the store says the object is not there: no retry brings it
            raise ValueError(f"{file}: no such key in the farm's store") from None
        folder = self.context.scratch / "blender-files"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{hashlib.sha256(data).hexdigest()}.blend"
        if not path.is_file():
            # Written whole, then renamed: a second slot never opens half a file.
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        return path

    def _frame(self, setup: ShotSetup, frame: int, blender_frame: int, answer: dict[str, Any], image: output.BlenderImage) -> RenderedFrame:
        try:
            cam = answer["camera"]
            matrix, fov = tuple(float(v) for v in cam["world_to_camera"]), float(cam["fov"])
            focal, sensor = float(cam["focal_mm"]), (float(cam["sensor_mm"][0]), float(cam["sensor_mm"][1]))
            objects = {str(k): (float(v[0]), float(v[1]), float(v[2])) for k, v in answer["objects"].items()}
        except (KeyError, TypeError, IndexError, AttributeError) as e:  # the worker broke its protocol: a retry restarts it
            raise BlenderError(f"Blender's answer for frame {blender_frame} is incomplete: {type(e).__name__} {e}") from None
        # A camera the file makes impossible (zero scale, a wild field of view) is a ValueError: it stays so.
        pose = CameraPose(world_to_camera=matrix, fov=fov, focal_mm=focal, sensor_mm=sensor)
        assert setup.scene.blend is not None and setup.blender is not None
        attributes = {
            "engine": "blender",
            "blenderVersion": self.process.version,
            "blenderFile": setup.scene.blend.file,
            "blenderScene": setup.scene.blend.scene,
            "blenderCamera": setup.blender.camera,
            "blenderFrame": str(blender_frame),
            "sourceColourSpace": image.source_space,
            "colourConversion": f"{OCIO_CONFIG}: {image.source_space} -> {output.ACESCG}",
            "samples": image.samples or str(setup.samples),
        }
        if setup.blender.camera_move is not None:
            attributes["cameraMove"] = setup.blender.camera_move.model_dump_json(exclude_none=True)
        return RenderedFrame(frame=frame, pixels=image.pixels, camera=pose, depth=image.depth, objects=objects, attributes=attributes)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64] or "shot"
