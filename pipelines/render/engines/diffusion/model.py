"""A diffusion model folder: where it is, whether it is whole, what it is (its digest), and loading it offline.

A model is a folder as diffusers' `save_pretrained` writes it (model_index.json
naming each component's library and class, one subfolder per component), on
the node's disk or as a tar in the farm's store (`store:KEY`), unpacked once
into the node's scratch folder under the tar's digest. It is never fetched
from a hub: the offline switches are set before diffusers is imported and
every load passes `local_files_only`.

The digest is a SHA-256 over every file's path and contents, so two folders
with the same files have the same digest wherever they are; it is computed
once per folder per process (keyed by the files' sizes and modification
times) because a real Wan checkout is tens of gigabytes.

Errors the farm acts on: ValueError names the folder and the file that is
missing or unreadable, and means the shot can never load from it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.spec.sources import STORE_PREFIX

PIPELINES = ("WanPipeline", "WanImageToVideoPipeline")
"""The pipelines this engine drives, as model_index.json names them."""
IMAGE_TO_VIDEO = "WanImageToVideoPipeline"
_NOT_MODELS = {"tokenizer", "scheduler", "image_processor", "feature_extractor"}
"""Components with a config but no weights."""
_WEIGHTS = (".safetensors", ".bin")
_digests: dict[tuple[str, tuple[tuple[str, int, int], ...]], str] = {}
_digest_lock = threading.Lock()


def offline() -> None:
    """No hub at run time: set before huggingface_hub, transformers or diffusers is first imported."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def local_folder(ref: str, scratch: Path, fetch: Callable[[str], bytes] | None) -> Path:
    """The model folder `ref` names: a path on this node, or store:KEY[@SHA256] for a tar unpacked into scratch."""
    if not ref.startswith(STORE_PREFIX):
        folder = Path(ref).expanduser()
        if not folder.is_dir():
            raise ValueError(f"model folder {folder} does not exist on this node (engine.options.model)")
        return folder
    if fetch is None:
        raise ValueError(f"model {ref} is in the farm's store, but this node has no store to read it from")
    pinned = ref.partition("@")[2]
    if re.fullmatch(r"[0-9a-f]{64}", pinned) and (scratch / "models" / pinned / "model_index.json").is_file():
        return scratch / "models" / pinned  # unpacked by an earlier shot: a pinned tar is not read again
    data = fetch(ref)
    folder = scratch / "models" / hashlib.sha256(data).hexdigest()
    if not (folder / "model_index.json").is_file():
        partial = folder.with_name(folder.name + ".partial")
        partial.mkdir(parents=True, exist_ok=True)
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                tar.extractall(partial, filter="data")  # refuses absolute paths, .. and links out of the folder
        except (tarfile.TarError, OSError) as e:
            raise ValueError(f"model {ref} is not a readable tar of a model folder: {e}") from None
        try:
            os.replace(_model_root(partial), folder)
        finally:
            shutil.rmtree(partial, ignore_errors=True)  # what is left of it: empty, or the tar's other files
    return folder


def _model_root(unpacked: Path) -> Path:
    """The tar's folder holding model_index.json: its top, or its one subfolder."""
    if (unpacked / "model_index.json").is_file():
        return unpacked
    subs = [p for p in unpacked.iterdir() if p.is_dir()]
    if len(subs) == 1 and (subs[0] / "model_index.json").is_file():
        return subs[0]
    raise ValueError("the tar holds no model_index.json (at its top or in its one folder)")


def index(folder: Path) -> dict[str, Any]:
    """model_index.json, checked: a pipeline this engine drives, and every component's files present."""
    path = folder / "model_index.json"
    if not path.is_file():
        raise ValueError(f"model folder {folder} has no model_index.json: not a diffusers model folder")
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"model folder {folder}: model_index.json is not readable JSON: {e}") from None
    if not isinstance(raw, dict) or raw.get("_class_name") not in PIPELINES:
        found = raw.get("_class_name") if isinstance(raw, dict) else None
        raise ValueError(f"model folder {folder} holds a {found!r}; this engine drives {', '.join(PIPELINES)}")
    for name, entry in raw.items():
        if name.startswith("_") or not isinstance(entry, list) or entry[:1] == [None]:
            continue
        sub = folder / name
        if not sub.is_dir():
            raise ValueError(f"model folder {folder} is missing {name}/ (model_index.json names it)")
        if name not in _NOT_MODELS:
            if not (sub / "config.json").is_file():
                raise ValueError(f"model folder {folder} is missing {name}/config.json")
            if not any(p.suffix in _WEIGHTS for p in sub.iterdir()):
                raise ValueError(f"model folder {folder} is missing {name}/'s weights (*.safetensors)")
    return raw


def text_and_image(raw_index: dict[str, Any]) -> bool:
    """Whether the model makes a clip from text alone or from a first picture too (Wan 2.2 TI2V, `expand_timesteps`).

    Such a model keeps the picture's VAE encoding as the clip's first latent
    frame (no image encoder): the same weights run as a WanPipeline without
    a picture and as a WanImageToVideoPipeline with one, and never take a
    last picture (that pipeline does not read one in this mode).
    """
    return raw_index.get("expand_timesteps") is True


def for_task(pipe: Any, image: bool) -> Any:
    """A text-and-image model's pipeline for one task, sharing every loaded component with `pipe`."""
    import inspect

    import diffusers

    kind = diffusers.WanImageToVideoPipeline if image else diffusers.WanPipeline
    if isinstance(pipe, kind):
        return pipe
    accepted = inspect.signature(kind).parameters
    parts = {name: part for name, part in pipe.components.items() if name in accepted}
    other: Any = kind(**parts, expand_timesteps=True, boundary_ratio=pipe.config.get("boundary_ratio"))
    other.set_progress_bar_config(disable=True)
    return other


def takes_last_image(folder: Path) -> bool:
    """Whether the model ends its clip on a second picture (Wan 2.1 FLF2V: the two pictures' tokens side by side).

    Such a transformer has a learned position for each picture's tokens
    (`pos_embed_seq_len`) and needs both; an image-to-video one takes only the first.
    """
    try:
        config = json.loads((folder / "transformer" / "config.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"model folder {folder}: transformer/config.json is not readable JSON: {e}") from None
    return isinstance(config, dict) and config.get("pos_embed_seq_len") is not None


def digest(folder: Path) -> str:
    """SHA-256 over the folder's files (relative path and contents), cached while no file changes."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    stats = tuple((p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    key = (str(folder.resolve()), stats)
    with _digest_lock:
        if key in _digests:
            return _digests[key]
    total = hashlib.sha256()
    for path, (rel, _, _) in zip(files, stats):
        one = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                one.update(chunk)
        total.update(f"{rel}\0{one.hexdigest()}\n".encode())
    found = total.hexdigest()
    with _digest_lock:
        _digests[key] = found
    return found


def load_pipeline(folder: Path, device: str) -> Any:
    """The folder's pipeline on `device`, from local files only; ValueError naming the folder when it cannot be read."""
    kind = index(folder)["_class_name"]
    offline()
    import diffusers
    import torch
    import transformers

    diffusers.utils.logging.disable_progress_bar()  # a node's log is for the farm, not for loading bars
    transformers.utils.logging.disable_progress_bar()
    try:
        pipe = getattr(diffusers, kind).from_pretrained(folder, local_files_only=True)
    except (MemoryError, torch.OutOfMemoryError):
        raise  # another node, or a later try, may have the memory
    except Exception as e:  # safetensors, JSON, shape and config errors all mean the files are wrong
        raise ValueError(f"model folder {folder} cannot be loaded: {type(e).__name__}: {_first_line(e)}") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [""])[0][:400]
