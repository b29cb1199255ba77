"""Frames another program wrote, read as the farm needs them: the beauty's R, G, B at the sequence's size."""

from __future__ import annotations

import numpy as np
import OpenEXR
import pytest

from pipelines.render.engines.command.frames import FrameOutputError, read

SIZE = (8, 4)


def plane(value: float, size=SIZE, dtype=np.float32) -> np.ndarray:
    return np.full((size[1], size[0]), value, dtype)


def write(path, channels, **header):
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, **header}, channels) as exr:
        exr.write(str(path))
    return path


def rgb(prefix: str, r: float, g: float = 0.0, b: float = 0.0, **kw) -> dict[str, np.ndarray]:
    return {f"{prefix}R": plane(r, **kw), f"{prefix}G": plane(g, **kw), f"{prefix}B": plane(b, **kw)}


@pytest.mark.parametrize(
    ("channels", "beauty", "layer"),
    [
        ({**rgb("", 1.0), **rgb("diffuse.", 2.0)}, 1.0, ""),
        ({**rgb("diffuse.", 2.0), **rgb("beauty.", 1.0)}, 1.0, "beauty."),
        ({**rgb("ViewLayer.Combined.", 1.0), **rgb("ViewLayer.Diffuse.", 2.0), "ViewLayer.Depth.Z": plane(9.0)}, 1.0, "ViewLayer.Combined."),
        ({**rgb("emission.", 1.0), **rgb("specular.", 2.0)}, 1.0, "emission."),  # no beauty by name: the first layer
        ({**rgb("", 1.0), "A": plane(0.5)}, 1.0, ""),
    ],
    ids=["plain-beside-a-pass", "beauty-layer", "blender-multilayer", "first-layer", "with-alpha"],
)
def test_the_beauty_is_taken_whatever_the_program_named_its_channels(tmp_path, channels, beauty, layer):
    frame = read(write(tmp_path / "f.exr", channels), 1, SIZE)
    assert frame.layer == layer
    np.testing.assert_array_equal(frame.pixels[0, 0], [beauty, 0.0, 0.0])
    assert frame.pixels.shape == (SIZE[1], SIZE[0], 3) and frame.pixels.dtype == np.float32


def test_the_beauty_part_of_a_multi_part_file_is_found_and_the_first_parts_camera_kept(tmp_path):
    camera = np.eye(4, dtype=np.float32)
    depth = OpenEXR.Part({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, "worldToCamera": camera}, {"depth.Z": plane(3.0)}, "depth")
    beauty = OpenEXR.Part({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, rgb("", 0.25, 0.5, 0.75), "rgba")
    with OpenEXR.File([depth, beauty]) as exr:
        exr.write(str(tmp_path / "f.exr"))
    frame = read(tmp_path / "f.exr", 1, SIZE)
    np.testing.assert_array_equal(frame.pixels[1, 1], [0.25, 0.5, 0.75])
    np.testing.assert_array_equal(np.asarray(frame.header["worldToCamera"]), camera)


def test_half_float_pixels_are_read_as_float32(tmp_path):
    frame = read(write(tmp_path / "f.exr", rgb("", 0.5, dtype=np.float16)), 1, SIZE)
    assert frame.pixels.dtype == np.float32 and frame.pixels[0, 0, 0] == 0.5


def test_a_file_without_r_g_b_is_refused_listing_what_it_has(tmp_path):
    path = write(tmp_path / "f.exr", {"Y": plane(0.5), "depth.Z": plane(1.0)})
    with pytest.raises(FrameOutputError, match=r"frame 7 \(.*f\.exr\): has no R, G, B channels .*\(it has Y, depth\.Z\)"):
        read(path, 7, SIZE)


def test_integer_channels_are_refused(tmp_path):
    path = write(tmp_path / "f.exr", rgb("id.", 3, dtype=np.uint32))
    with pytest.raises(FrameOutputError, match=r"channel id\.R holds uint32 integers"):
        read(path, 1, SIZE)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FrameOutputError, match=r"frame 3 \(.*nothing\.exr\): the program wrote no file there"):
        read(tmp_path / "nothing.exr", 3, SIZE)


@pytest.mark.parametrize("content", [b"", b"not an exr at all", b"\x76\x2f\x31\x01" + b"\x02\x00\x00\x00" + b"\xff" * 40])
def test_a_file_that_is_not_an_exr_is_refused_naming_it(tmp_path, content):
    (tmp_path / "f.exr").write_bytes(content)
    with pytest.raises(FrameOutputError, match=r"frame 1 \(.*f\.exr\): not a readable OpenEXR file"):
        read(tmp_path / "f.exr", 1, SIZE)


def test_a_truncated_file_is_refused_naming_it(tmp_path):
    data = write(tmp_path / "whole.exr", rgb("", 1.0)).read_bytes()
    (tmp_path / "f.exr").write_bytes(data[: len(data) - 20])
    with pytest.raises(FrameOutputError, match=r"frame 1 \(.*f\.exr\): "):
        read(tmp_path / "f.exr", 1, SIZE)


def test_a_frame_of_another_size_is_refused_naming_both(tmp_path):
    path = write(tmp_path / "f.exr", rgb("", 1.0, size=(6, 4)))
    with pytest.raises(FrameOutputError, match=r"is 6x4, the sequence renders 8x4"):
        read(path, 1, SIZE)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_pixels_that_are_not_finite_are_refused(tmp_path, bad):
    channels = rgb("", 1.0)
    channels["G"][2, 3] = bad
    with pytest.raises(FrameOutputError, match=r"1 pixels are not finite"):
        read(write(tmp_path / "f.exr", channels), 1, SIZE)


def test_a_data_window_inside_the_frame_is_padded_with_black(tmp_path):
    # a 4x2 bounding box at (2, 1) inside an 8x4 frame, as compositors write
    path = write(
        tmp_path / "f.exr", rgb("", 1.0, size=(4, 2)), displayWindow=((0, 0), (7, 3)), dataWindow=((2, 1), (5, 2))
    )
    pixels = read(path, 1, SIZE).pixels
    assert pixels[1:3, 2:6, 0].min() == 1.0
    assert pixels[:, :, 0].sum() == 8.0  # nothing outside the box


def test_overscan_beyond_the_frame_is_cropped(tmp_path):
    wide = rgb("", 0.0, size=(10, 6))
    wide["R"][1:5, 1:9] = 1.0  # the frame's own pixels
    path = write(tmp_path / "f.exr", wide, displayWindow=((0, 0), (7, 3)), dataWindow=((-1, -1), (8, 4)))
    np.testing.assert_array_equal(read(path, 1, SIZE).pixels[:, :, 0], np.ones((4, 8)))


def test_a_data_window_far_larger_than_the_frame_is_refused_before_decoding(tmp_path):
    path = write(tmp_path / "f.exr", rgb("", 0.0, size=(40, 20)), displayWindow=((0, 0), (7, 3)), dataWindow=((0, 0), (39, 19)))
    with pytest.raises(FrameOutputError, match="data window .* is over 4x the frame's area"):
        read(path, 1, SIZE)


def test_a_file_with_more_channels_than_the_farm_decodes_is_refused_before_decoding(tmp_path, monkeypatch):
    import pipelines.render.engines.command.frames as frames

    monkeypatch.setattr(frames, "MAX_PLANES", 4)
    path = write(tmp_path / "f.exr", {**rgb("", 1.0), **rgb("diffuse.", 0.5)})
    with pytest.raises(FrameOutputError, match="holds over 4 frame-sized channels in all"):
        read(path, 1, SIZE)
