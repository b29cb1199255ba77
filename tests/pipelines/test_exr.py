"""The frame codec: what an encoded shotfarm frame holds, and what decoding refuses."""

from __future__ import annotations

import hashlib
import io
import pickle
from fractions import Fraction

import numpy as np
import OpenEXR
import pytest

from pipelines import exr
from pipelines.exr import FrameDecodeError, decode_frame, encode_frame, read_header, timecode, timecode_str

FPS24 = Fraction(24)
NTSC = Fraction(24000, 1001)
HALF_EPS = 2.0**-11  # relative precision of a half float (10-bit mantissa)


def frame(h: int = 18, w: int = 32, seed: int = 0) -> np.ndarray:
    rgb = np.random.default_rng(seed).random((h, w, 3), dtype=np.float32) * 4.0
    rgb[0, 0] = (8.0, 1000.0, 0.18)  # HDR must survive
    rgb[0, 1] = (1e-4, 2.5e-3, 0.0)  # so must dark values
    rgb[0, 2] = (-0.01, 0.5, 60000.0)  # slightly out-of-gamut negatives, near half max
    return rgb


def encode(rgb: np.ndarray | None = None, **overrides) -> bytes:
    kwargs = {
        "fps": FPS24,
        "timecode": (1, 0, 42, 12),
        "attributes": {"shot": "sh010", "frame": 1012},
        **overrides,
    }
    return encode_frame(frame() if rgb is None else rgb, **kwargs)


def library_header(data: bytes) -> dict:
    with OpenEXR.File(io.BytesIO(data), header_only=True) as f:
        return dict(f.header())


# --- pixels -----------------------------------------------------------------


def test_decoded_pixels_match_the_input_within_half_float_precision_including_hdr_values():
    rgb = frame()
    pixels, _ = decode_frame(encode(rgb))
    assert pixels.dtype == np.float32 and pixels.shape == rgb.shape
    np.testing.assert_allclose(pixels, rgb, rtol=HALF_EPS, atol=1e-7)
    assert pixels[0, 0].tolist() == [8.0, 1000.0, pytest.approx(0.18, rel=HALF_EPS)]
    assert pixels[0, 1, 0] == pytest.approx(1e-4, rel=HALF_EPS)


def test_nan_pixels_are_refused_with_the_count_of_bad_pixels():
    rgb = frame()
    rgb[3, 4, 1] = np.nan
    rgb[5, 6] = np.nan
    with pytest.raises(ValueError, match=r"2 pixels are not finite \(2 NaN"):
        encode(rgb)


def test_infinite_pixels_are_refused():
    rgb = frame()
    rgb[1, 1, 2] = np.inf
    with pytest.raises(ValueError, match="1 pixels are not finite"):
        encode(rgb)


def test_values_beyond_the_half_float_range_are_refused_rather_than_written_as_infinity():
    rgb = frame()
    rgb[2, 2, 0] = 70000.0
    with pytest.raises(ValueError, match="half-float range"):
        encode(rgb)


# Taller than one conversion band: 12 KB rows, so a 1 MB band is 87 rows.
TALL = (300, 1000)


def test_a_frame_of_many_bands_carries_the_checksum_of_all_its_half_pixels():
    rgb = frame(*TALL)
    header = read_header(encode(rgb))
    whole = hashlib.sha256(rgb.astype("<f2").tobytes()).hexdigest()
    assert header[exr.CHECKSUM_ATTRIBUTE] == whole


@pytest.mark.parametrize("bad", [np.nan, 70000.0])
def test_a_bad_pixel_in_the_last_band_is_refused_too(bad):
    rgb = frame(*TALL)
    rgb[-1, -1, 2] = bad
    with pytest.raises(ValueError, match="not finite|half-float range"):
        encode(rgb)


@pytest.mark.parametrize("shape", [(18, 32), (18, 32, 4), (0, 32, 3)])
def test_only_non_empty_rgb_images_are_accepted(shape):
    with pytest.raises(ValueError):
        encode(np.zeros(shape, np.float32))


# --- header -----------------------------------------------------------------


def test_the_file_is_piz_compressed_half_rgb_tagged_as_acescg():
    _, header = decode_frame(encode())
    assert header["compression"] == OpenEXR.PIZ_COMPRESSION
    assert header["channels"] == {"R": "HALF", "G": "HALF", "B": "HALF"}
    assert header["chromaticities"] == pytest.approx(exr.ACESCG_CHROMATICITIES, abs=1e-6)
    assert header["colorInteropID"] == "lin_ap1_scene"


def test_the_library_reads_standard_r_g_b_half_channels():
    with OpenEXR.File(io.BytesIO(encode()), separate_channels=True) as f:
        types = {name: ch.type() for name, ch in f.channels().items()}
    assert types == {"R": OpenEXR.HALF, "G": OpenEXR.HALF, "B": OpenEXR.HALF}


def test_openexr_colour_metadata_check_finds_nothing_wrong():
    # checkColorMetadata returns OR'd warning flags, 0 (OK) when clean.
    assert OpenEXR.checkColorMetadata(library_header(encode())) == OpenEXR.ColorMetadataWarning.OK


def test_openexr_colour_metadata_check_would_catch_contradicting_chromaticities():
    # Proves the check above is live: it really compares our interop ID with
    # the chromaticities (a header without an interop ID is never flagged).
    header = library_header(encode())
    header["chromaticities"] = (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290)
    assert OpenEXR.checkColorMetadata(header) & OpenEXR.ColorMetadataWarning.CHROMATICITIES_DIFFER


@pytest.mark.parametrize("fps", [Fraction(24, 1), Fraction(24000, 1001), Fraction(25, 1)])
def test_frames_per_second_is_written_as_a_rational(fps):
    data = encode(fps=fps)
    assert b"framesPerSecond\x00rational\x00" in data  # not a v2i
    fps_read = read_header(data)["framesPerSecond"]
    assert isinstance(fps_read, Fraction) and fps_read == fps


def test_timecode_is_written_with_hours_minutes_seconds_frames():
    data = encode(fps=NTSC, timecode=timecode(24 * 75 + 7, NTSC))
    assert read_header(data)["timeCode"] == (1, 1, 15, 7)
    tc = library_header(data)["timeCode"]
    assert (tc.hours, tc.minutes, tc.seconds, tc.frame, tc.dropFrame) == (1, 1, 15, 7, False)


def test_high_frame_rate_timecode_counts_frame_pairs_and_round_trips():
    data = encode(fps=Fraction(60), timecode=(1, 0, 0, 59))
    tc = library_header(data)["timeCode"]
    assert (tc.frame, tc.fieldPhase) == (29, True)  # SMPTE 12M's frame field stops at 29
    assert read_header(data)["timeCode"] == (1, 0, 0, 59)


def test_frame_rates_beyond_what_exr_timecode_can_hold_are_refused():
    with pytest.raises(ValueError, match="120 fps"):
        encode(fps=Fraction(120), timecode=(1, 0, 0, 0))


def test_a_timecode_frame_beyond_the_rate_is_refused():
    with pytest.raises(ValueError, match="out of range"):
        encode(fps=FPS24, timecode=(1, 0, 0, 24))


def test_custom_attributes_round_trip_under_the_shotfarm_prefix():
    data = encode(attributes={"shot": "sh010", "frame": 1012, "exposure": 0.5, "note": "héllo"})
    header = read_header(data)
    assert header["shotfarm/shot"] == "sh010"
    assert header["shotfarm/frame"] == 1012
    assert header["shotfarm/exposure"] == 0.5
    assert header["shotfarm/note"] == "héllo"
    assert "shot" not in header


def test_float_attributes_are_kept_to_32_bit_precision():
    value = read_header(encode(attributes={"gain": 0.1}))["shotfarm/gain"]
    assert value == pytest.approx(0.1, rel=1e-7) and value != 0.1


@pytest.mark.parametrize(
    "attributes, error",
    [
        ({"ok": True}, TypeError),  # the writer would store 1
        ({"frame": 2**31}, ValueError),  # the writer would wrap it to -2**31
        ({"k" * 250: 1}, ValueError),  # the writer would drop the attribute
        ({"pixels_sha256": "x"}, ValueError),  # reserved for the codec
        ({"shape": (1, 2)}, TypeError),
    ],
)
def test_attributes_the_format_would_silently_mangle_are_refused(attributes, error):
    with pytest.raises(error):
        encode(attributes=attributes)


def test_numpy_scalars_are_accepted_as_attributes():
    header = read_header(encode(attributes={"frame": np.int64(1012), "gain": np.float32(0.5)}))
    assert (header["shotfarm/frame"], header["shotfarm/gain"]) == (1012, 0.5)


def test_decoded_header_equals_read_header_and_pickles():
    data = encode()
    _, header = decode_frame(data)
    assert header == read_header(data)
    assert pickle.loads(pickle.dumps(header)) == header


# --- determinism ------------------------------------------------------------


def test_encoding_the_same_frame_twice_gives_identical_bytes():
    assert encode() == encode()


def test_different_metadata_gives_different_bytes():
    assert encode() != encode(attributes={"shot": "sh020", "frame": 1012})


# --- decoding bad bytes -----------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"not an exr at all", b"\x76\x2f\x31\x01" + b"\xff" * 64])
def test_bytes_that_are_not_an_exr_raise_frame_decode_error(data):
    with pytest.raises(FrameDecodeError):
        decode_frame(data)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.99])
def test_truncated_files_raise_frame_decode_error(keep):
    data = encode()
    with pytest.raises(FrameDecodeError):
        decode_frame(data[: int(len(data) * keep)])


def test_a_truncated_header_raises_frame_decode_error_from_read_header():
    with pytest.raises(FrameDecodeError):
        read_header(encode()[:60])


def _silently_corrupted(data: bytes) -> bytes:
    """Flip a byte that OpenEXR itself decodes without complaint into wrong pixels."""
    original = _library_pixels(data)
    for pos in range(len(data) - 1, len(data) // 2, -1):
        bad = bytearray(data)
        bad[pos] ^= 0x5A
        try:
            pixels = _library_pixels(bytes(bad))
        except Exception:
            continue
        if not np.array_equal(pixels, original):
            return bytes(bad)
    raise AssertionError("no silently corrupting byte found")


def _library_pixels(data: bytes) -> np.ndarray:
    with OpenEXR.File(io.BytesIO(data)) as f:
        return f.channels()["RGB"].pixels.copy()


def test_corruption_the_library_decodes_silently_is_caught_by_the_pixel_checksum():
    corrupt = _silently_corrupted(encode(frame(32, 32)))
    with pytest.raises(FrameDecodeError, match="checksum"):
        decode_frame(corrupt)


def test_frame_decode_error_is_a_value_error():
    assert issubclass(FrameDecodeError, ValueError)


# --- timecode arithmetic ----------------------------------------------------


@pytest.mark.parametrize(
    "index, fps, start, expected",
    [
        (0, FPS24, "01:00:00:00", "01:00:00:00"),
        (24, FPS24, "01:00:00:00", "01:00:01:00"),
        (23, FPS24, "01:00:00:00", "01:00:00:23"),
        (24 * 3600, FPS24, "01:00:00:00", "02:00:00:00"),
        (1, FPS24, "00:59:59:23", "01:00:00:00"),
        (86399 * 24 + 23, FPS24, "00:00:00:00", "23:59:59:23"),
        (86399 * 24 + 24, FPS24, "00:00:00:00", "00:00:00:00"),  # wraps at 24h
        (86399 * 24 + 23, FPS24, "01:00:00:00", "00:59:59:23"),
        (24, NTSC, "01:00:00:00", "01:00:01:00"),  # 23.976 counts at 24, non-drop
        (24, Fraction(25), "01:00:00:00", "01:00:00:24"),
        (25, Fraction(25), "01:00:00:00", "01:00:01:00"),
        (30, Fraction(30000, 1001), "01:00:00:00", "01:00:01:00"),
        (-1, FPS24, "00:00:00:00", "23:59:59:23"),
    ],
)
def test_timecode_counts_non_drop_frames_at_the_nominal_rate(index, fps, start, expected):
    assert timecode_str(index, fps, start) == expected
    assert timecode(index, fps, start) == tuple(int(v) for v in expected.split(":"))


@pytest.mark.parametrize("start", ["1:00:00:00", "01:00:00:24", "24:00:00:00", "01:60:00:00"])
def test_an_invalid_start_timecode_is_refused(start):
    with pytest.raises(ValueError):
        timecode(0, FPS24, start)


def test_frames_from_other_writers_decode_to_rgb():
    # Float32 RGBA, ZIP, no shotfarm attributes or checksum: still a frame.
    rgba = np.random.default_rng(1).random((8, 12, 4), dtype=np.float32)
    out = io.BytesIO()
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION}, {"RGBA": rgba}) as f:
        f.write(out)
    pixels, header = decode_frame(out.getvalue())
    np.testing.assert_array_equal(pixels, rgba[..., :3])
    assert header["channels"] == {"A": "FLOAT", "B": "FLOAT", "G": "FLOAT", "R": "FLOAT"}
