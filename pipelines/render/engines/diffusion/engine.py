"""The diffusion engine: a shot's frames generated as one clip by a local Wan pipeline, kept loaded between shots.

load() checks the shot's options (options.py), finds the model folder
(model.py) and loads its pipeline unless the same model (by digest) is
already loaded: consecutive shots from one model reuse it, as a render node
reuses a parsed scene. render_chunk(first, last) generates one clip for the
whole range and yields it frame by frame, converted to ACEScg (display.py).
A Wan 2.2 TI2V model (text and image to video in one) is loaded once and
run as whichever pipeline the shot needs, with or without its picture.

Diffusion makes a clip, not independent frames, so a generated shot is
planned as one chunk (pipelines.chunking gives a shot of a clip engine a
single chunk): the clip's first frame is the chunk's first frame, and Wan
generates the shortest 4k+1-frame clip covering the chunk, the rest trimmed.
A range asked twice (a retry on this node) is served from the last clip.

A take is regenerated bit for bit from what every frame records: the model
digest, pipeline, seed, steps, guidance, scheduler (class and config
digest), prompts, size and the conditioning images' digests. The noise
comes from a CPU generator, so the seed means the same noise on any device.

This module must never be imported by the farm's listing (the package's
__init__ declares the engine); diffusers and torch load here.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.exr import decode_frame
from pipelines.render.engines.base import EngineContext, RenderedFrame
from pipelines.render.engines.diffusion import display, model
from pipelines.render.engines.diffusion.options import DiffusionOptions, clip_length, options_of
from pipelines.spec.setup import ShotSetup

_EXR_MAGIC = b"\x76\x2f\x31\x01"
MAX_IMAGE_PIXELS = 8192 * 8192
"""A conditioning picture larger than this is refused before it is decoded."""


class DiffusionEngine:
    name = "diffusion"

    def __init__(self, context: EngineContext) -> None:
        model.offline()
        import torch

        if context.device == "cpu":
            torch.set_num_threads(max(1, context.threads))  # a node is one process per slot: more threads fight its neighbours
        self.context = context
        self._pipe: Any = None
        self._task: Any = None
        """The pipeline a shot runs: the loaded one, or a text-and-image model's other task over the same components."""
        self._model_digest: str | None = None
        self._setup: ShotSetup | None = None
        self._options: DiffusionOptions | None = None
        self._images: dict[str, Any] = {}
        self._provenance: dict[str, str] = {}
        self._clip: tuple[tuple[str, int, int], list[np.ndarray]] | None = None

    # -- the Engine protocol --

    def load(self, setup: ShotSetup) -> None:
        options = options_of(setup)
        folder = model.local_folder(options.model, self.context.scratch, self.context.fetch)
        index = model.index(folder)
        kind, either = index["_class_name"], model.text_and_image(index)
        if either and options.last_image is not None:
            raise ValueError(f"model folder {folder} starts its clip from text or from one picture (Wan 2.2 TI2V): the shot takes no engine.options.last_image")
        if options.conditioned and kind != model.IMAGE_TO_VIDEO and not either:
            raise ValueError(f"model folder {folder} holds a {kind}, which takes no conditioning image; use an image-to-video model")
        if kind == model.IMAGE_TO_VIDEO and not either:
            if options.image is None:
                raise ValueError(f"model folder {folder} is image-to-video: the shot needs engine.options.image (store:KEY)")
            last = model.takes_last_image(folder)
            if last != (options.last_image is not None):
                need = "needs engine.options.last_image too" if last else "takes no engine.options.last_image"
                raise ValueError(f"model folder {folder} {'ends its clip on a second picture' if last else 'starts from one picture'}: the shot {need}")
        digest = model.digest(folder)
        images = {name: self._picture(ref, options) for name, ref in (("image", options.image), ("last_image", options.last_image)) if ref}
        if digest != self._model_digest:
            self._pipe, self._task, self._model_digest = None, None, None  # free the old model before the new one loads
            self._pipe = model.load_pipeline(folder, self.context.device)
            self._model_digest = digest
        self._task = model.for_task(self._pipe, image="image" in images) if either else self._pipe
        self._setup, self._options, self._images = setup, options, {k: v[0] for k, v in images.items()}
        self._provenance = self._record(folder, options, {k: v[1] for k, v in images.items()})

    def render_chunk(self, first: int, last: int) -> Iterator[RenderedFrame]:
        if self._setup is None or self._options is None:
            raise RuntimeError("render_chunk before load")
        key = (self._setup.digest, first, last)
        if self._clip is None or self._clip[0] != key:
            self._clip = None
            self._clip = (key, self._generate(last - first + 1))
        clip = self._clip[1]
        for i, frame in enumerate(range(first, last + 1)):
            yield RenderedFrame(frame=frame, pixels=clip[i], attributes={**self._provenance, "clipFrame": str(i)})

    def close(self) -> None:
        self._pipe, self._task, self._model_digest, self._clip, self._images = None, None, None, None, {}

    # -- generation --

    def generate_display(self, frames: int) -> np.ndarray:
        """The clip as the pipeline makes it: (clip_length(frames), H, W, 3) display-encoded float32 in [0, 1]."""
        import torch

        o = self._options
        assert o is not None
        call: dict[str, Any] = {
            "prompt": o.prompt,
            "negative_prompt": o.negative_prompt or None,
            "height": o.height,
            "width": o.width,
            "num_frames": clip_length(frames),
            "num_inference_steps": o.steps,
            "guidance_scale": o.guidance,
            "generator": torch.Generator("cpu").manual_seed(o.seed),
            "output_type": "np",
        }
        call.update(self._images)
        with torch.inference_mode():
            out = self._task(**call)
        return np.asarray(out.frames[0], dtype=np.float32)

    def _generate(self, frames: int) -> list[np.ndarray]:
        assert self._setup is not None
        clip = self.generate_display(frames)[:frames]
        width, height = self._setup.resolution
        if clip.shape[1:3] != (height, width):
            clip = _resize(clip, width, height)
        return [display.to_scene_linear(picture) for picture in clip]

    def _picture(self, ref: str, options: DiffusionOptions) -> tuple[Any, str]:
        """A conditioning image from the store at the generated size, with the digest of its bytes."""
        from PIL import Image

        if self.context.fetch is None:
            raise ValueError(f"conditioning image {ref} is in the farm's store, but this node has no store to read it from")
        data = self.context.fetch(ref)
        if data[:4] == _EXR_MAGIC:  # a farm frame: scene-linear, shown as the sRGB screen shows it
            rgb = display.to_picture(decode_frame(data)[0])
            picture = Image.fromarray(rgb, "RGB")
        else:
            try:
                with Image.open(io.BytesIO(data)) as im:
                    if im.width * im.height > MAX_IMAGE_PIXELS:
                        raise ValueError(f"conditioning image {ref} is {im.width}x{im.height}, over {MAX_IMAGE_PIXELS:,} pixels")
                    picture = im.convert("RGB")
            except (OSError, Image.DecompressionBombError) as e:
                raise ValueError(f"conditioning image {ref} is not a picture PIL or OpenEXR can read: {e}") from None
        if picture.size != (options.width, options.height):
            picture = picture.resize((options.width, options.height), Image.Resampling.LANCZOS)
        return picture, hashlib.sha256(data).hexdigest()

    def _record(self, folder: Path, o: DiffusionOptions, images: dict[str, str]) -> dict[str, str]:
        import diffusers
        import torch

        scheduler = self._task.scheduler
        config = json.dumps(dict(scheduler.config), sort_keys=True, default=str)
        record = {
            "engine": "diffusion",
            "diffusers": diffusers.__version__,
            "torch": torch.__version__,
            "device": self.context.device,
            "pipeline": type(self._task).__name__,
            "model": o.model,
            "modelFolder": str(folder),
            "modelDigest": self._model_digest or "",
            "seed": str(o.seed),
            "steps": str(o.steps),
            "guidance": repr(o.guidance),
            "scheduler": type(scheduler).__name__,
            "schedulerConfig": hashlib.sha256(config.encode()).hexdigest(),
            "prompt": o.prompt,
            "negativePrompt": o.negative_prompt,
            "generatedSize": f"{o.width}x{o.height}",
            "displayReferred": "true",
            "colourConversion": display.CONVERSION,
        }
        for name, digest in images.items():
            ref = getattr(o, name)
            record["image" if name == "image" else "lastImage"] = ref
            record["imageDigest" if name == "image" else "lastImageDigest"] = digest
        return record


def _resize(clip: np.ndarray, width: int, height: int) -> np.ndarray:
    """(F, h, w, 3) display values -> (F, height, width, 3), filtered (display values resample without halos)."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(clip)).permute(0, 3, 1, 2)
    out = torch.nn.functional.interpolate(t, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return out.permute(0, 2, 3, 1).clamp(0.0, 1.0).numpy()
