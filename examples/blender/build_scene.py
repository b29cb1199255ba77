"""Builds examples/blender/set.blend: a small set for the Blender engine's example and tests.

Run with the Blender environment's Python (bpy is not in the farm's):

    .venv-blender/bin/python examples/blender/build_scene.py examples/blender/set.blend

Blender's world is Z up; the farm's is Y up (farm x, y, z = Blender x, z, -y).
The set: a ground, "Hero" (a red ball rolling along Blender +X over frames
1-72), "Partner" (a blue block it rolls towards), a low sun and a dusk-blue
world. Hero and Partner set the line of action, Blender's X axis. "CamA"
(wide) and "CamB" (medium) look from Blender -Y; "CamC" (close) looks from
+Y, across the line, which is the error sequence.yaml plants.

Everything is placed by number, never by the UI, so the same file comes out
on every run.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import bpy
from bpy_extras import anim_utils
from mathutils import Vector

FRAMES = (1, 72)


def material(name: str, rgb: tuple[float, float, float], roughness: float = 0.5) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    bsdf = mat.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (*rgb, 1.0)
    bsdf.inputs["Roughness"].default_value = roughness
    return mat


def mesh_object(name: str, mesh_op, mat: bpy.types.Material, **kw) -> bpy.types.Object:
    mesh_op(**kw)
    obj = bpy.context.active_object
    obj.name = name
    obj.data.name = name
    obj.data.materials.append(mat)
    return obj


def camera(name: str, position: tuple[float, float, float], look_at: tuple[float, float, float], lens: float) -> bpy.types.Object:
    data = bpy.data.cameras.new(name)
    data.lens = lens
    data.sensor_width = 36.0
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    obj.location = position
    # A camera looks down its -Z with +Y up: aim it, upright.
    obj.rotation_euler = (Vector(look_at) - Vector(position)).to_track_quat("-Z", "Y").to_euler()
    return obj


def build() -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.name = "Scene"
    scene.frame_start, scene.frame_end = FRAMES
    scene.render.engine = "CYCLES"
    scene.render.resolution_x, scene.render.resolution_y = 320, 180
    scene.render.resolution_percentage = 100
    scene.render.fps = 24
    scene.cycles.samples = 16

    mesh_object("Ground", bpy.ops.mesh.primitive_plane_add, material("ground", (0.32, 0.30, 0.28), 0.8), size=30.0)
    hero = mesh_object(
        "Hero", bpy.ops.mesh.primitive_uv_sphere_add, material("hero", (0.80, 0.12, 0.08), 0.35), radius=0.5, location=(-2.0, 0.0, 0.5)
    )
    bpy.ops.object.shade_smooth()
    for frame, x in ((FRAMES[0], -2.0), (FRAMES[1], 2.5)):
        hero.location.x = x
        hero.keyframe_insert("location", index=0, frame=frame)
    # A steady roll: linear keys, so every frame's position is a plain lerp.
    anim = hero.animation_data
    for key in anim_utils.action_get_channelbag_for_slot(anim.action, anim.action_slot).fcurves[0].keyframe_points:
        key.interpolation = "LINEAR"
    mesh_object("Partner", bpy.ops.mesh.primitive_cube_add, material("partner", (0.10, 0.22, 0.70), 0.5), size=0.8, location=(3.5, 0.0, 0.4))

    sun_data = bpy.data.lights.new("Sun", "SUN")
    sun_data.energy = 3.0
    sun_data.angle = math.radians(3.0)
    sun = bpy.data.objects.new("Sun", sun_data)
    scene.collection.objects.link(sun)
    sun.rotation_euler = (math.radians(50.0), 0.0, math.radians(30.0))

    world = bpy.data.worlds.new("Dusk")
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.06, 0.09, 0.16, 1.0)
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = 1.0
    scene.world = world

    cam_a = camera("CamA", (0.5, -9.0, 2.2), (0.5, 0.0, 0.6), 35.0)
    camera("CamB", (-3.5, -4.5, 1.2), (-0.5, 0.0, 0.6), 50.0)
    camera("CamC", (1.5, 5.0, 1.4), (1.0, 0.0, 0.6), 50.0)
    scene.camera = cam_a


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: build_scene.py OUTPUT.blend", file=sys.stderr)
        return 2
    out = Path(argv[0]).resolve()
    build()
    bpy.ops.wm.save_as_mainfile(filepath=str(out), compress=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
