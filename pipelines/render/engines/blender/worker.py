"""The warm Blender: a script the Blender environment's Python runs, one per render slot.

It reads one JSON request per line on stdin and answers one JSON line on the
original stdout. Blender prints freely on fd 1 from C, so at start the worker
keeps a private copy of fd 1 for its answers and points fd 1 at stderr: the
answer channel carries nothing but answers.

Requests (one at a time, in order):
  {"op": "load", "file", "scene", "camera", "resolution", "samples", "seed",
   "passes", "device", "threads", "camera_move", "watched"}
      opens the file only when it differs from the one open (path, size,
      modification time), then sets the shot's render settings.
  {"op": "render", "frame", "output"}  one frame to a multilayer EXR; answers
      the camera that looked and the watched objects, in the farm's world.
  {"op": "ping"}, {"op": "quit"}
Answers: {"ok": true, ...} or {"ok": false, "kind": "load" | "device" |
"render" | "request", "error": "..."}; "load" means the shot can never render.

It must never save the .blend: a camera move is applied to a temporary
camera object in memory. It cannot import shotfarm (its environment has only
bpy and numpy<2), so the farm's mirror and yaw are restated here; the tests
check they agree with pipelines.continuity.geometry.
"""

from __future__ import annotations

import json
import math
import os
import sys
import traceback

MAX_REQUEST_BYTES = 1 << 20
MOVED_CAMERA = "shotfarm.moved_camera"
"""The in-memory object a camera move renders through; never saved."""


class LoadError(Exception):
    """The shot can never render from this file (missing file, scene, camera or object)."""


class DeviceError(Exception):
    """This machine's Blender has no device of the kind asked for (another node may)."""


# -- the farm's world (Y up) and Blender's (Z up): farm (x, y, z) = Blender (x, z, -y) --


def to_farm(v) -> list[float]:
    return [float(v[0]), float(v[2]), -float(v[1]) + 0.0]  # + 0.0: no -0.0 in answers


def from_farm(p) -> tuple[float, float, float]:
    return (p[0], -p[2], p[1])


def mirror(a, b, p) -> list[float]:
    """Reflect a farm point across the vertical plane through the ground line a-b (geometry.mirror)."""
    ux, uz = b[0] - a[0], b[2] - a[2]
    n = math.hypot(ux, uz)
    if n == 0:
        raise LoadError("a mirror needs two distinct ground points")
    ux, uz = ux / n, uz / n
    along = (p[0] - a[0]) * ux + (p[2] - a[2]) * uz
    fx, fz = a[0] + along * ux, a[2] + along * uz
    return [2 * fx - p[0], p[1], 2 * fz - p[2]]


def yaw_about(p, centre, degrees: float) -> list[float]:
    """Rotate a farm point about the vertical through centre, counter-clockwise from above (geometry.yaw_about)."""
    a = math.radians(degrees)
    x, z = p[0] - centre[0], p[2] - centre[2]
    return [centre[0] + x * math.cos(a) + z * math.sin(a), p[1], centre[2] - x * math.sin(a) + z * math.cos(a)]


def moved(move: dict, p) -> list[float]:
    if "mirror" in move:
        return mirror(move["mirror"]["a"], move["mirror"]["b"], p)
    return yaw_about(p, move["yaw"]["centre"], move["yaw"]["degrees"])


class Worker:
    def __init__(self, bpy) -> None:
        self.bpy = bpy
        self.opened: tuple[str, int, int] | None = None
        self.opens = 0
        self.shot: dict | None = None

    # -- load --

    def load(self, req: dict) -> dict:
        bpy = self.bpy
        path = os.path.realpath(req["file"])
        try:
            st = os.stat(path)
        except OSError as e:
            raise LoadError(f"cannot read the .blend file {req['file']}: {e.strerror}") from None
        key = (path, st.st_size, st.st_mtime_ns)
        opened = key != self.opened
        if opened:
            self.opened = None
            try:
                # A .blend is someone else's file: its embedded scripts and drivers never run here.
                bpy.ops.wm.open_mainfile(filepath=path, load_ui=False, use_scripts=False)
            except RuntimeError as e:
                raise LoadError(f"Blender cannot open {req['file']}: {str(e).strip()}") from None
            self.opened, self.opens = key, self.opens + 1
        scene = bpy.data.scenes.get(req["scene"])
        if scene is None:
            raise LoadError(f"{req['file']} has no scene {req['scene']!r} (it has: {', '.join(sorted(s.name for s in bpy.data.scenes))})")
        camera = scene.objects.get(req["camera"])
        if camera is None:
            raise LoadError(f"scene {req['scene']!r} of {req['file']} has no camera object {req['camera']!r}")
        if camera.type != "CAMERA" or camera.data.type != "PERSP":
            raise LoadError(f"object {req['camera']!r} in {req['file']} is not a perspective camera")
        for name in req["watched"]:
            if scene.objects.get(name) is None:
                raise LoadError(f"scene {req['scene']!r} of {req['file']} has no object {name!r} (named as watched)")
        old = bpy.data.objects.get(MOVED_CAMERA)
        if old is not None:
            bpy.data.objects.remove(old)
        self.shot = None
        layer = self._settings(scene, req)
        scene.camera = camera
        if req.get("camera_move"):
            proxy = bpy.data.objects.new(MOVED_CAMERA, camera.data)
            scene.collection.objects.link(proxy)
            scene.camera = proxy
        self.shot = dict(req, layer=layer)
        colorspace = bpy.data.colorspace
        return {
            "opened": opened,
            "opens": self.opens,
            "layer": layer,
            "working_space": colorspace.working_space,
            "working_space_interop_id": colorspace.working_space_interop_id,
        }

    def _settings(self, scene, req: dict) -> str:
        """The shot's render settings on the loaded scene; returns the view layer that renders."""
        r, cycles = scene.render, scene.cycles
        r.engine = "CYCLES"
        r.resolution_x, r.resolution_y = req["resolution"]
        r.resolution_percentage = 100
        r.pixel_aspect_x = r.pixel_aspect_y = 1.0
        r.use_border = False  # a render region left on in the file would crop every frame
        # The master wants the render itself, scene-linear: no compositor, no edit.
        r.use_compositing = False
        r.use_sequencer = False
        # Determinism: one seed for every frame, a fixed sample count, a fixed thread count.
        cycles.samples = req["samples"]
        cycles.seed = req["seed"]
        cycles.use_animated_seed = False
        cycles.use_adaptive_sampling = False
        cycles.use_denoising = False
        cycles.time_limit = 0.0
        r.threads_mode = "FIXED"
        r.threads = req["threads"]
        self._device(scene, req["device"])
        layers = [v for v in scene.view_layers if v.use] or list(scene.view_layers)
        layer = layers[0]
        for v in scene.view_layers:
            v.use = v == layer
        layer.use_pass_z = "depth" in req["passes"]
        layer.use_pass_normal = "normal" in req["passes"]
        image = r.image_settings
        # Blender 5.0: the media type first, or OPEN_EXR_MULTILAYER is not an option.
        image.media_type = "MULTI_LAYER_IMAGE"
        image.file_format = "OPEN_EXR_MULTILAYER"
        image.color_depth = "32"
        image.exr_codec = "ZIP"
        r.use_file_extension = False
        return layer.name

    def _device(self, scene, device: str) -> None:
        if device == "cpu":
            scene.cycles.device = "CPU"
            return
        prefs = self.bpy.context.preferences.addons["cycles"].preferences
        kind = device.upper()
        prefs.compute_device_type = kind
        prefs.get_devices()
        found = [d for d in prefs.devices if d.type == kind]
        if not found:
            raise DeviceError(f"this Blender finds no {kind} device")
        for d in prefs.devices:
            d.use = d.type == kind
        scene.cycles.device = "GPU"

    # -- render --

    def render(self, req: dict) -> dict:
        bpy, shot = self.bpy, self.shot
        if shot is None:
            raise ValueError("render before a successful load")
        scene = bpy.data.scenes[shot["scene"]]
        camera = scene.objects[shot["camera"]]
        scene.frame_set(int(req["frame"]))
        looked = camera
        if shot.get("camera_move"):
            looked = scene.objects[MOVED_CAMERA]
            looked.matrix_world = self._moved_matrix(camera.matrix_world, shot["camera_move"])
        scene.render.filepath = req["output"]
        bpy.ops.render.render(write_still=True, scene=scene.name)
        if not os.path.isfile(req["output"]):
            raise RuntimeError(f"Blender wrote no image for frame {req['frame']}")
        return {
            "frame": int(req["frame"]),
            "camera": self._camera(scene, looked),
            "objects": {name: to_farm(scene.objects[name].matrix_world.translation) for name in shot["watched"]},
        }

    def _moved_matrix(self, world, move: dict):
        """The camera's world matrix with its position and aim point moved in the farm's world, kept upright."""
        from mathutils import Matrix, Vector

        position = world.translation
        forward = -(world.to_3x3() @ Vector((0.0, 0.0, 1.0))).normalized()
        to = Vector(from_farm(moved(move, to_farm(position))))
        aim = Vector(from_farm(moved(move, to_farm(position + forward))))
        rotation = (aim - to).to_track_quat("-Z", "Y")
        return Matrix.LocRotScale(to, rotation, None)

    def _camera(self, scene, obj) -> dict:
        from mathutils import Matrix

        loc, rot, _scale = obj.matrix_world.decompose()
        # Farm camera-to-world is the axis swap after Blender's; the camera's own axes agree (-Z forward, +Y up).
        swap = Matrix(((1, 0, 0, 0), (0, 0, 1, 0), (0, -1, 0, 0), (0, 0, 0, 1)))
        world_to_camera = (swap @ Matrix.LocRotScale(loc, rot, None)).inverted()
        data, r = obj.data, scene.render
        w, h = r.resolution_x * r.pixel_aspect_x, r.resolution_y * r.pixel_aspect_y
        fit = data.sensor_fit
        if fit == "AUTO":
            fit, size = ("HORIZONTAL" if w >= h else "VERTICAL"), data.sensor_width
        else:
            size = data.sensor_width if fit == "HORIZONTAL" else data.sensor_height
        sensor = (size, size * h / w) if fit == "HORIZONTAL" else (size * w / h, size)
        return {
            "world_to_camera": [float(world_to_camera[i][j]) for i in range(4) for j in range(4)],
            "fov": math.degrees(2 * math.atan(sensor[1] / 2 / data.lens)),
            "focal_mm": float(data.lens),
            "sensor_mm": [float(sensor[0]), float(sensor[1])],
        }

    def handle(self, req: dict) -> dict:
        op = req.get("op")
        if op == "load":
            return self.load(req)
        if op == "render":
            return self.render(req)
        if op == "ping":
            return {"pid": os.getpid(), "opens": self.opens, "blender": self.bpy.app.version_string}
        raise KeyError(f"unknown request {op!r}")


def _failure(kind: str, error: BaseException) -> dict:
    return {"ok": False, "kind": kind, "error": str(error) or type(error).__name__}


def serve(requests, answers) -> None:
    import bpy

    bpy.context.preferences.filepaths.use_scripts_auto_execute = False
    worker = Worker(bpy)
    for line in requests:
        if len(line) > MAX_REQUEST_BYTES:
            answer = _failure("request", ValueError(f"a request of {len(line)} bytes is over {MAX_REQUEST_BYTES}"))
        else:
            try:
                req = json.loads(line)
                if req.get("op") == "quit":
                    answers.write(json.dumps({"ok": True}) + "\n")
                    return
                answer = {"ok": True, **worker.handle(req)}
            except LoadError as e:
                answer = _failure("load", e)
            except DeviceError as e:
                answer = _failure("device", e)
            except (KeyError, TypeError, ValueError) as e:
                answer = _failure("request", e)
            except Exception as e:  # the render failed: say why, keep serving
                traceback.print_exc()
                answer = _failure("render", e)
        answers.write(json.dumps(answer) + "\n")


def main() -> int:
    answers = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(sys.stdin, answers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
