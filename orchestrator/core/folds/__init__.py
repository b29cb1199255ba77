"""The folds evolve applies, a module per noun; importing this package registers every one."""

from orchestrator.core.folds import chunks, cuts, master, nodes, sequences, shots
from orchestrator.core.folds.base import FOLDS

__all__ = ["FOLDS", "chunks", "cuts", "master", "nodes", "sequences", "shots"]
