"""A stand-in DCC for the command engine's tests: a real program writing real EXRs, as a renderer would.

    python dcc.py SCENE FIRST LAST OUTPUT WIDTH HEIGHT

SCENE is a JSON file saying what to do: the camera to write into each
header, the light to fill the frame with, which layer to name the channels
after, frames to skip, an exit code, or to hang with a child process. It
computes OpenEXR's standard camera matrices itself (row vectors, a
left-handed camera looking down +Z, NDC 0..1 down the frame), independently
of the farm's reader.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def unit(v):
    return v / (v @ v) ** 0.5


def standard_matrices(position, look_at, fov: float, width: int, height: int):
    import numpy as np

    pos = np.array(position, float)
    forward = unit(np.array(look_at, float) - pos)
    right = unit(np.cross(forward, [0.0, 1.0, 0.0]))
    up = np.cross(right, forward)
    world_to_camera = np.eye(4)
    world_to_camera[:3, 0], world_to_camera[:3, 1], world_to_camera[:3, 2] = right, up, forward
    world_to_camera[3, :3] = [-pos @ right, -pos @ up, -pos @ forward]
    ty = np.tan(np.radians(fov) / 2)
    tx = ty * width / height
    # camera (x, y, z, 1) -> (0.5 x / tx + 0.5 z, -0.5 y / ty + 0.5 z, z, z): divided by w = z, NDC 0..1, y down
    camera_to_ndc = np.array([[0.5 / tx, 0, 0, 0], [0, -0.5 / ty, 0, 0], [0.5, 0.5, 1, 1], [0, 0, 0, 0]])
    return world_to_camera.astype(np.float32), (world_to_camera @ camera_to_ndc).astype(np.float32)


def main() -> int:
    scene, first, last, output, width, height = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
    plan = json.loads(Path(scene).read_text())
    print(f"dcc: rendering {first}-{last} in {os.getcwd()}", flush=True)
    if plan.get("hang"):
        child = subprocess.Popen(["sleep", "600"])
        Path(plan["hang"]).write_text(f"{os.getpid()} {child.pid}")
        print("dcc: waiting forever", flush=True)
        time.sleep(600)
    # numpy and OpenEXR load only now: a hanging run must reach its hang quickly, well inside its timeout
    import numpy as np
    import OpenEXR

    if plan.get("escapee"):
        # a daemon in its own session that keeps the program's output open, as some licence helpers do
        child = subprocess.Popen(["setsid", "sleep", "600"])
        Path(plan["escapee"]).write_text(str(child.pid))
    if plan.get("straggler"):
        child = subprocess.Popen(["sleep", "600"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        Path(plan["straggler"]).write_text(str(child.pid))
    cam = plan.get("camera")
    for frame in range(first, last + 1):
        if frame in plan.get("skip", ()):
            continue
        r, g, b = plan.get("rgb", (0.1, 0.2, 0.3))
        layer = plan.get("layer", "")
        channels = {
            f"{layer}R": np.full((height, width), r + 0.01 * (frame - first), np.float32),
            f"{layer}G": np.full((height, width), g, np.float32),
            f"{layer}B": np.full((height, width), b, np.float32),
            "Z": np.full((height, width), 5.0, np.float32),
        }
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        if plan.get("objects") is not None:
            header["shotfarm/objects"] = plan["objects"] if isinstance(plan["objects"], str) else json.dumps(plan["objects"])
        if plan.get("interop"):
            header["colorInteropID"] = plan["interop"]
        if cam:
            header["worldToCamera"], header["worldToNDC"] = standard_matrices(cam["position"], cam["look_at"], cam["fov"], width, height)
            if plan.get("no_ndc"):
                del header["worldToNDC"]
        with OpenEXR.File(header, channels) as exr:
            exr.write(output.replace("####", f"{frame:04d}"))
        print(f"dcc: Saved frame {frame}", flush=True)
    if plan.get("progress_bar"):
        sys.stdout.write("".join(f"\rrendering {p}%" for p in (25, 50, 75, 100)) + "\n" + "x" * 10_000 + "\n")
        sys.stdout.flush()
    for i in range(plan.get("noise", 0)):
        print(f"dcc: noise line {i}", flush=True)
    if plan.get("exit"):
        print("dcc: ERROR out of licences", file=sys.stderr, flush=True)
    return int(plan.get("exit", 0))


if __name__ == "__main__":
    sys.exit(main())
