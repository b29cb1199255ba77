"""Shared fixtures: one local Ray for the whole session, as CI runs it."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def ray_session():
    """A real local Ray with two CPUs and fake GPU classes as custom resources."""
    import ray

    ray.init(
        address="local",  # never a cluster that a multi-node test (or `ray start`) left running on this machine
        num_cpus=2,
        resources={"gpu_class_h100": 1, "gpu_class_l40s": 1},
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
    )
    yield ray
    ray.shutdown()
