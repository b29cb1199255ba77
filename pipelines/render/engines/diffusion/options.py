"""The diffusion engine's reading of a shot's options: the spec's checks (pipelines.spec.generated) on a loaded shot.

This module must never import torch or diffusers.
"""

from __future__ import annotations

from pipelines.spec.generated import GeneratedOptions, clip_length, generated_size, parse
from pipelines.spec.setup import ShotSetup

DiffusionOptions = GeneratedOptions
__all__ = ["DiffusionOptions", "clip_length", "generated_size", "options_of"]


def options_of(setup: ShotSetup) -> GeneratedOptions:
    """The shot's options, checked; a ValueError naming the shot and every bad option otherwise."""
    try:
        return parse(setup.options, setup.resolution, setup.seed)
    except ValueError as e:
        raise ValueError(f"shot {setup.shot}'s diffusion options are not usable: {e}") from None
