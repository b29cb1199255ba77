"""A generated shot's options: what a shot under `engine: {name: diffusion}` asks of a video diffusion model.

Options are flat scalars (the spec's `EngineChoice`), so every check here
names its option as the spec does (`engine.options.steps`). They are checked
twice with the same code: when the sequence is read (a bad option is a spec
error naming the shot and the option, before anything is queued) and by the
diffusion engine when a node loads the shot. Wan's own limits are enforced
here rather than deep in the pipeline: sizes in multiples of 16 (the VAE's 8x
downscale, then the transformer's 2x2 patches). The clip length is not an
option: a shot's frames are its render range, and the engine generates the
shortest clip Wan can make (4k+1 frames) that covers them, trimming the rest.

A generated shot may start from its neighbour's picture: `image: previous`
is the last cut frame of the shot before it on the timeline, `last_image:
next` the first cut frame of the shot after it. The farm resolves the word to
that frame in its store before the engine sees the shot, and holds the shot
until the frame exists (core.state). `takes: N` generates N takes with seeds
seed, seed+1, ...; the continuity rules pick one (pipelines.continuity.takes).

This module must never import torch or diffusers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from pipelines.spec.sources import STORE_PREFIX

SIZE_STEP = 16
MAX_SIDE = 4096
MAX_STEPS = 500
MAX_PROMPT = 2000
MAX_TAKES = 16
PREVIOUS, NEXT = "previous", "next"
NEIGHBOUR_OPTIONS = {"image": PREVIOUS, "last_image": NEXT}
"""The conditioning options that may name a neighbour's frame, and the word each accepts."""
_Side = Annotated[int, Field(ge=SIZE_STEP, le=MAX_SIDE, multiple_of=SIZE_STEP)]


class GeneratedOptions(BaseModel):
    """What a generated shot asks of the model."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    model: str = Field(min_length=1, max_length=4096, description="A model folder on the nodes, or store:KEY for a tar of one.")
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT)
    negative_prompt: str = Field("", max_length=MAX_PROMPT)
    seed: int = Field(ge=0, le=2**63 - 1, description="Default: the sequence's seed. The same seed regenerates the take bit for bit.")
    steps: int = Field(30, ge=1, le=MAX_STEPS, description="Denoising steps.")
    guidance: float = Field(5.0, ge=0.0, le=50.0, description="Classifier-free guidance scale; 1 or less turns it off.")
    width: _Side
    height: _Side
    image: str | None = Field(
        None,
        max_length=4096,
        description="The picture the clip starts from (image-to-video): store:KEY, or `previous` for the last cut frame of the shot before.",
    )
    last_image: str | None = Field(
        None,
        max_length=4096,
        description="The picture the clip ends on (image-to-video): store:KEY, or `next` for the first cut frame of the shot after.",
    )
    takes: int = Field(1, ge=1, le=MAX_TAKES, description="Takes to generate (seeds seed, seed+1, ...); the continuity rules accept one.")

    @field_validator("image", "last_image")
    @classmethod
    def _from_store(cls, v: str | None, info: ValidationInfo) -> str | None:
        word = NEIGHBOUR_OPTIONS[str(info.field_name)]
        if v is not None and v != word and not v.startswith(STORE_PREFIX):
            raise ValueError(f"a conditioning image is {word!r} or read from the farm's store ({STORE_PREFIX}KEY), got {v[:64]!r}")
        return v

    @property
    def conditioned(self) -> bool:
        return self.image is not None or self.last_image is not None

    def take_seed(self, take: int) -> int:
        """The seed of take `take` (1-based): take 1 is the shot's own seed."""
        return (self.seed + take - 1) % 2**63


def neighbours(options: Mapping[str, object]) -> dict[str, str]:
    """option -> `previous`/`next`, for the conditioning options of a generated shot that name a neighbour."""
    return {name: word for name, word in NEIGHBOUR_OPTIONS.items() if options.get(name) == word}


def takes(options: Mapping[str, object]) -> int:
    """How many takes a generated shot asks for (its options already checked)."""
    n = options.get("takes", 1)
    return n if isinstance(n, int) and not isinstance(n, bool) else 1


def generated_size(resolution: tuple[int, int]) -> tuple[int, int]:
    """The size Wan generates when the shot names none: the sequence's, rounded to multiples of 16."""
    return tuple(max(SIZE_STEP, min(MAX_SIDE, round(side / SIZE_STEP) * SIZE_STEP)) for side in resolution)  # type: ignore[return-value]


def clip_length(frames: int) -> int:
    """The shortest clip Wan makes (4k+1 frames) that holds `frames` frames."""
    if frames < 1:
        raise ValueError(f"a clip needs at least one frame, not {frames}")
    return 4 * ((frames - 1 + 3) // 4) + 1


def parse(options: Mapping[str, object], resolution: tuple[int, int], seed: int) -> GeneratedOptions:
    """The options checked, with defaults from the sequence; a ValueError naming every bad option (engine.options.NAME)."""
    width, height = generated_size(resolution)
    given = {"seed": seed, "width": width, "height": height, **options}
    if isinstance(given.get("guidance"), int) and not isinstance(given["guidance"], bool):
        given["guidance"] = float(given["guidance"])  # `guidance: 5` in YAML is a number like 5.0
    try:
        return GeneratedOptions.model_validate(given)
    except ValidationError as e:
        raise ValueError("; ".join(f"engine.options.{'.'.join(map(str, err['loc'])) or '?'}: {_plain(err)}" for err in e.errors())) from None


def _plain(err: dict) -> str:
    if err["type"] == "extra_forbidden":
        return f"unknown option; the engine reads {', '.join(GeneratedOptions.model_fields)}"
    if err["type"] == "missing":
        return "required"
    return str(err["msg"]).removeprefix("Value error, ")
