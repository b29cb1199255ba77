"""Light levels written into an x265 stream after encoding are the bytes x265 writes when given them first."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from pipelines.master.hdr10 import add_hdr10_stream, encode_frames, video_frame
from pipelines.master.light_sei import SEIError, _escape, _unescape, set_light_levels

W, H = 64, 36


def x265_stream(tmp_path, maxcll: int, maxfall: int, frames: int = 3) -> tuple[bytes, list[bytes]]:
    """x265's headers and packets (Annex B) for a few grey frames, its SEI declaring ``maxcll``, ``maxfall``."""
    packets: list[av.Packet] = []
    with av.open(str(tmp_path / f"{maxcll}-{maxfall}.mp4"), "w", format="mp4") as container:
        stream = add_hdr10_stream(container, fps=Fraction(24), width=W, height=H, maxcll=maxcll, maxfall=maxfall,
                                  peak_nits=1000, preset="ultrafast", crf=18)  # fmt: skip
        grey = (np.full((H, W), 64 + 8 * i, np.uint16) for i in range(frames))
        pictures = [video_frame((y, np.full((H // 2, W // 2), 512, np.uint16), np.full((H // 2, W // 2), 512, np.uint16)), "yuv420p10le", W, H) for y in grey]
        encode_frames(container, stream, pictures, (9, 16, 9, 1), mux=packets.extend)
        headers = bytes(stream.codec_context.extradata)
        return headers, [bytes(p) for p in packets]


# Levels whose bytes are 0 to 3 after two zeros need an emulation-prevention byte in the SEI, others none.
LEVELS = [(0, 0), (1, 0), (3, 3), (256, 3), (768, 0), (1000, 400), (65535, 65535), (9, 9), (12345, 678)]


@pytest.mark.parametrize(("maxcll", "maxfall"), LEVELS)
def test_levels_set_after_encoding_are_the_bytes_x265_writes_given_them_first(tmp_path, maxcll, maxfall):
    headers, packets = x265_stream(tmp_path, 65535, 65535)
    want_headers, want_packets = x265_stream(tmp_path, maxcll, maxfall)
    got_headers, found = set_light_levels(headers, maxcll, maxfall)
    assert found == 1
    assert got_headers == want_headers
    got = [set_light_levels(p, maxcll, maxfall)[0] for p in packets]
    assert got == want_packets
    assert [set_light_levels(p, maxcll, maxfall)[1] for p in packets] == [1] + [0] * (len(packets) - 1)


def test_a_placeholder_differs_from_the_real_levels_only_in_the_sei(tmp_path):
    (headers, packets), (want_headers, want_packets) = x265_stream(tmp_path, 65535, 65535), x265_stream(tmp_path, 3, 0)
    assert headers != want_headers and packets[0] != want_packets[0]  # the test above compares something
    assert packets[1:] == want_packets[1:]


@pytest.mark.parametrize("rbsp", [b"\x00\x00\x00\x00", b"\x00\x00\x03", b"\x4e\x01\x90\x04\x00\x00\x00\x01\x80", bytes(range(256)) * 2])
def test_emulation_prevention_round_trips(rbsp):
    nal = _escape(rbsp)
    assert _unescape(nal) == rbsp
    assert not any(nal[i : i + 3] in (b"\x00\x00\x00", b"\x00\x00\x01", b"\x00\x00\x02") for i in range(len(nal) - 2))


def test_a_stream_without_sei_is_left_as_it_is_and_a_broken_sei_is_refused():
    slice_only = b"\x00\x00\x00\x01\x02\x01\xd0\x11\x57"
    assert set_light_levels(slice_only, 100, 10) == (slice_only, 0)
    truncated = b"\x00\x00\x01\x4e\x01\x90\x04\x03\xe8\x80"  # a 4-byte payload of which 2 are there
    with pytest.raises(SEIError):
        set_light_levels(truncated, 100, 10)
    short_cll = b"\x00\x00\x01\x4e\x01\x90\x02\x03\xe8\x80"
    with pytest.raises(SEIError, match="2 bytes"):
        set_light_levels(short_cll, 100, 10)
