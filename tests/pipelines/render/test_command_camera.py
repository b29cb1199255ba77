"""The camera in a frame's header, read as the farm's CameraPose whichever convention the writer followed."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.render.engines.base import CameraPose
from pipelines.render.engines.command.camera import HeaderCamera, read
from tests.pipelines.render.dcc import standard_matrices

POSITION, LOOK_AT, SIZE = (4.0, 1.5, -3.0), (0.0, 1.0, 1.0), (1920, 1080)


def expected(fov: float = 40.0) -> CameraPose:
    return CameraPose.looking(POSITION, LOOK_AT, fov)


def assert_same(read: CameraPose | None, want: CameraPose) -> None:
    assert read is not None
    assert read.position == pytest.approx(want.position, abs=1e-4)
    assert read.forward == pytest.approx(want.forward, abs=1e-5)
    assert read.up == pytest.approx(want.up, abs=1e-5)
    assert read.fov == pytest.approx(want.fov, abs=1e-3)


@pytest.mark.parametrize("fov", [10.0, 40.0, 90.0, 150.0])
def test_the_standard_left_handed_row_vector_camera_is_read_with_its_field_of_view(fov):
    world_to_camera, world_to_ndc = standard_matrices(POSITION, LOOK_AT, fov, *SIZE)
    assert_same(read({"worldToCamera": world_to_camera, "worldToNDC": world_to_ndc}).pose, expected(fov))


def test_a_right_handed_camera_looking_down_minus_z_is_read_without_a_flip():
    _, world_to_ndc = standard_matrices(POSITION, LOOK_AT, 40.0, *SIZE)
    right_handed = np.array(expected().world_to_camera).reshape(4, 4).T  # row vectors, as Arnold-style writers store it
    assert_same(read({"worldToCamera": right_handed, "worldToNDC": world_to_ndc}).pose, expected())


def test_a_matrix_written_column_major_is_read_transposed():
    world_to_camera, world_to_ndc = standard_matrices(POSITION, LOOK_AT, 40.0, *SIZE)
    assert_same(read({"worldToCamera": world_to_camera.T, "worldToNDC": world_to_ndc}).pose, expected())


def test_no_camera_matrix_means_no_camera():
    assert read({}) == read({"worldToNDC": np.eye(4)}) == HeaderCamera(pose=None, problem=None)


def test_a_camera_without_world_to_ndc_has_no_field_of_view_so_is_not_reported():
    world_to_camera, _ = standard_matrices(POSITION, LOOK_AT, 40.0, *SIZE)
    seen = read({"worldToCamera": world_to_camera})
    assert seen.pose is None and seen.problem == "it has worldToCamera but no perspective worldToNDC, so no field of view"


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda m: m * 2.0, "not a rigid camera transform"),  # a scaled camera
        (lambda m: np.where(np.eye(4) == 1, np.nan, m), "not a finite 4x4 matrix"),
        (lambda m: m[:3, :3], "not a finite 4x4 matrix"),
        (lambda m: "a string", "not a finite 4x4 matrix"),
        (lambda m: np.diag([1.0, 1.0, 1.0, 0.5]), "not a rigid camera transform"),
    ],
    ids=["scaled", "nan", "3x3", "text", "projective"],
)
def test_a_camera_matrix_the_farm_cannot_read_is_dropped_with_the_reason_not_raised(damage, why):
    world_to_camera, world_to_ndc = standard_matrices(POSITION, LOOK_AT, 40.0, *SIZE)
    seen = read({"worldToCamera": damage(world_to_camera), "worldToNDC": world_to_ndc})
    assert seen.pose is None and why in seen.problem


def test_an_orthographic_projection_has_no_field_of_view():
    world_to_camera, _ = standard_matrices(POSITION, LOOK_AT, 40.0, *SIZE)
    orthographic = world_to_camera.astype(float) @ np.array([[0.1, 0, 0, 0], [0, -0.1, 0, 0], [0, 0, 1, 0], [0.5, 0.5, 0, 1]])
    seen = read({"worldToCamera": world_to_camera, "worldToNDC": orthographic})
    assert seen.pose is None and "no perspective worldToNDC" in seen.problem
