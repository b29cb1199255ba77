"""Render frames of a .blend as a farm DCC: Cycles, one single-layer EXR per frame, the camera in its header.

    .venv-blender/bin/python examples/commandline/render_blend.py SCENE FIRST LAST OUTPUT \
        [--size W H] [--samples N] [--threads N] [--watch OBJECT ...]

OUTPUT has #### where the frame number goes (Blender's own convention).
Frames are Blender's frame numbers. Pixels are Blender's scene-linear space
(Linear Rec.709 with its default config), so the spec says
`colour_space: Linear Rec.709 (sRGB)`.

Blender 5.0's EXR writer records the camera's name but not its matrices, so
this script adds OpenEXR's standard `worldToCamera` and `worldToNDC` to each
file's header after Blender writes it: row vectors, a left-handed camera
looking down +Z, NDC 0..1 across the display window with y down (the
OpenEXR and RenderMan conventions), in the farm's world, which is Y up
where Blender is Z up. It runs in the Blender environment, which has no
OpenEXR bindings, so the attributes are spliced into the header's bytes.

Each --watch object's world position (its origin) goes into the header too,
as the farm stores such reports: `shotfarm/objects`, JSON {"name": [x, y, z]}
in the farm's world. The continuity rules stage the shot from the subject's.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys

import bpy
from mathutils import Matrix

# Blender (x, y, z) is the farm's (x, z, -y): Z up becomes Y up.
BLENDER_TO_FARM = Matrix(((1, 0, 0, 0), (0, 0, 1, 0), (0, -1, 0, 0), (0, 0, 0, 1)))
# A right-handed camera looking down -Z to the standard's left-handed one looking down +Z.
FLIP_Z = Matrix.Diagonal((1, 1, -1, 1))
# OpenGL clip space (x, y in -1..1, y up) to the standard's NDC (0..1, y down), before the divide by w.
CLIP_TO_NDC = Matrix(((0.5, 0, 0, 0.5), (0, -0.5, 0, 0.5), (0, 0, 1, 0), (0, 0, 0, 1)))


def main() -> int:
    parser = argparse.ArgumentParser(prog="render_blend.py")
    parser.add_argument("scene")
    parser.add_argument("first", type=int)
    parser.add_argument("last", type=int)
    parser.add_argument("output")
    parser.add_argument("--size", type=int, nargs=2, default=(32, 18), metavar=("W", "H"))
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="0: Blender's own choice")
    parser.add_argument("--watch", action="append", default=[], metavar="OBJECT", help="report this object's position")
    args = parser.parse_args()
    if "####" not in args.output or args.last < args.first:
        parser.error("OUTPUT needs #### for the frame number and FIRST <= LAST")

    bpy.ops.wm.open_mainfile(filepath=args.scene)
    scene = bpy.context.scene
    if scene.camera is None:
        print(f"render_blend: {args.scene} has no active camera", file=sys.stderr)
        return 2
    missing = [name for name in args.watch if name not in scene.objects]
    if missing:
        print(f"render_blend: {args.scene} has no object named {', '.join(missing)}", file=sys.stderr)
        return 2
    setup(scene, args)
    for frame in range(args.first, args.last + 1):
        scene.frame_set(frame)
        path = args.output.replace("####", f"{frame:04d}")
        scene.render.filepath = path
        bpy.ops.render.render(write_still=True)
        world_to_camera, world_to_ndc = camera_matrices(scene)
        attributes = {"worldToCamera": m44f(world_to_camera), "worldToNDC": m44f(world_to_ndc)}
        if args.watch:
            attributes["shotfarm/objects"] = string(json.dumps({name: farm_position(scene.objects[name]) for name in args.watch}))
        add_attributes(path, attributes)
        print(f"render_blend: frame {frame} saved {path}", flush=True)
    return 0


def setup(scene: bpy.types.Scene, args: argparse.Namespace) -> None:
    render = scene.render
    render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = args.samples
    scene.cycles.use_animated_seed = False
    render.resolution_x, render.resolution_y = args.size
    render.resolution_percentage = 100
    render.pixel_aspect_x = render.pixel_aspect_y = 1.0
    if args.threads:
        render.threads_mode, render.threads = "FIXED", args.threads
    image = render.image_settings
    image.file_format = "OPEN_EXR"
    image.color_mode = "RGB"
    image.color_depth = "16"
    image.exr_codec = "ZIP"


def camera_matrices(scene: bpy.types.Scene) -> tuple[Matrix, Matrix]:
    """(worldToCamera, worldToNDC) as the standard's row-vector matrices, in the farm's world."""
    cam = scene.camera
    location, rotation, _ = cam.matrix_world.decompose()  # a scaled camera object must not scale the view
    camera_to_farm = BLENDER_TO_FARM @ Matrix.LocRotScale(location, rotation, None)
    farm_to_camera = camera_to_farm.inverted()
    render = scene.render
    projection = cam.calc_matrix_camera(bpy.context.evaluated_depsgraph_get(), x=render.resolution_x, y=render.resolution_y)
    # Column-vector matrices here; the header holds their transposes (points multiply on the left).
    return (FLIP_Z @ farm_to_camera).transposed(), (CLIP_TO_NDC @ projection @ farm_to_camera).transposed()


def farm_position(obj: bpy.types.Object) -> list[float]:
    x, y, z = obj.matrix_world.translation
    return [x, z, -y]


def m44f(m: Matrix) -> tuple[bytes, bytes]:
    return b"m44f", struct.pack("<16f", *(v for row in m for v in row))


def string(text: str) -> tuple[bytes, bytes]:
    return b"string", text.encode()


def add_attributes(path: str, attributes: dict[str, tuple[bytes, bytes]]) -> None:
    """Splice (type, value) attributes into a single-part EXR's header, moving the chunk offsets past them."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x76\x2f\x31\x01":
        raise ValueError(f"{path} is not an OpenEXR file")
    flags = int.from_bytes(data[4:8], "little") >> 8
    if flags & (0x08 | 0x10):  # non-image (deep) or multi-part: Blender writes neither for a single layer
        raise ValueError(f"{path}: expected a single-part image")
    pos, names = 8, set()
    while data[pos] != 0:
        name_end = data.index(b"\0", pos)
        type_end = data.index(b"\0", name_end + 1)
        size = int.from_bytes(data[type_end + 1 : type_end + 5], "little")
        names.add(data[pos:name_end].decode())
        pos = type_end + 5 + size
    header_end = pos + 1
    first_chunk = int.from_bytes(data[header_end : header_end + 8], "little")
    count, rest = divmod(first_chunk - header_end, 8)
    if count < 1 or rest:
        raise ValueError(f"{path}: cannot find its chunk offset table")
    added = b"".join(
        name.encode() + b"\0" + kind + b"\0" + struct.pack("<i", len(value)) + value
        for name, (kind, value) in attributes.items()
        if name not in names
    )
    offsets = struct.unpack(f"<{count}Q", data[header_end:first_chunk])
    table = struct.pack(f"<{count}Q", *(o + len(added) for o in offsets))
    spliced = data[:pos] + added + b"\0" + table + data[first_chunk:]
    with open(path + ".tmp", "wb") as f:
        f.write(spliced)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    sys.exit(main())
