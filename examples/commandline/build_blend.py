"""Build the command-line example's set: a ball rolling past a block on a ground plane, seen by one camera.

Run it with the Blender environment's Python (made by `make blender`):

    .venv-blender/bin/python examples/commandline/build_blend.py examples/commandline/set.blend

The ball, "Hero", rolls along Blender's X axis over timeline frames
1001-1012, the frames sequence.yaml renders, so render_blend.py renders
Blender frame N for timeline frame N. Blender is Z up; render_blend.py writes
the camera in the farm's Y-up world.
"""

from __future__ import annotations

import sys

import bpy

FIRST, LAST = 1001, 1012


def material(name: str, rgb: tuple[float, float, float]) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    mat.diffuse_color = (*rgb, 1.0)
    if not mat.node_tree:  # Blender 5 gives every new material a node tree; older ones need use_nodes
        mat.use_nodes = True
    mat.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (*rgb, 1.0)
    return mat


def build(path: str) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = FIRST, LAST

    bpy.ops.mesh.primitive_plane_add(size=20)
    bpy.context.object.name = "Ground"
    bpy.context.object.data.materials.append(material("grey", (0.4, 0.4, 0.4)))

    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.5, location=(-2.0, 0.0, 0.5))
    hero = bpy.context.object
    hero.name = "Hero"
    hero.data.materials.append(material("red", (0.8, 0.05, 0.03)))
    hero.keyframe_insert("location", frame=FIRST)
    hero.location.x = 2.0
    hero.keyframe_insert("location", frame=LAST)

    bpy.ops.mesh.primitive_cube_add(size=1.0, location=(3.0, 1.0, 0.5))
    bpy.context.object.name = "Partner"
    bpy.context.object.data.materials.append(material("blue", (0.05, 0.1, 0.8)))

    bpy.ops.object.light_add(type="SUN", rotation=(0.6, 0.2, 0.8))
    bpy.context.object.data.energy = 3.0
    world = bpy.data.worlds.new("Dusk")
    world.color = (0.3, 0.35, 0.5)
    scene.world = world

    bpy.ops.object.camera_add(location=(0.0, -8.0, 2.5))
    cam = bpy.context.object
    cam.name = "Cam"
    aim = cam.constraints.new("TRACK_TO")
    aim.target, aim.track_axis, aim.up_axis = hero, "TRACK_NEGATIVE_Z", "UP_Y"
    scene.camera = cam

    bpy.ops.wm.save_as_mainfile(filepath=path, compress=True)
    print(f"build_blend: saved {path}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: build_blend.py OUT.blend")
    build(sys.argv[1])
