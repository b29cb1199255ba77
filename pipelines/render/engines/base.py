"""The Engine protocol and the registry of built-in engines.

A render node keeps one engine loaded per shot setup between chunks (scene
parsed, buffers on the device), so `load` is the expensive call and `render`
is per frame. Engines return scene-linear ACEScg float32, never display values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from pipelines.spec.setup import ShotSetup


class Engine(Protocol):
    name: str

    def load(self, setup: ShotSetup) -> None:
        """Prepare to render frames of this shot; may be called again with another."""

    def render(self, frame: int) -> torch.Tensor:
        """Render a timeline frame of the loaded shot: (height, width, 3) float32, scene-linear."""


ENGINES: dict[str, Callable[[str], Engine]] = {}


def register(name: str, factory: Callable[[str], Engine]) -> None:
    ENGINES[name] = factory


def make_engine(name: str, device: str = "cpu") -> Engine:
    """Build a registered engine for a torch device ("cpu", "cuda")."""
    if name not in ENGINES:
        raise KeyError(f"unknown engine {name!r}; known: {', '.join(sorted(ENGINES))}")
    return ENGINES[name](device)
