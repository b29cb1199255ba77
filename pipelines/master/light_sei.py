"""MaxCLL and MaxFALL written into an HEVC stream after it was encoded.

An HDR10 file declares its content light levels in its headers, which come
before the first picture, yet they are only known once the last master frame
has been seen. x265's pictures do not depend on the levels it is given: the
levels only reach its content-light-level SEI (payload type 144, two 16-bit
fields) and the settings text of its own user-data SEI (`` cll=1000,400 ``).
So the stream is encoded with placeholder levels, kept as Annex B packets,
and those SEI messages are rewritten here before the packets are muxed: the
bytes are those x265 writes when given the real levels from the start
(tests/pipelines/test_light_sei.py compares whole files).

Only SEI NAL units are touched, and only through their unescaped payload:
emulation-prevention bytes are removed and put back by the standard rule,
so a level whose bytes look like a start code (0 or 3) comes out as x265
writes it. Annex B has no length fields, so a rewritten NAL unit may grow or
shrink. Anything this module does not recognise raises SEIError rather than
leaving a stream whose levels understate its content.
"""

from __future__ import annotations

import re
import struct

PREFIX_SEI = 39
CONTENT_LIGHT_LEVEL = 144
USER_DATA_UNREGISTERED = 5
_SETTINGS = re.compile(rb" cll=\d+,\d+ ")
_START = b"\x00\x00\x01"


class SEIError(ValueError):
    """A stream whose light-level SEI is not where or what x265 writes."""


def set_light_levels(annexb: bytes, maxcll: int, maxfall: int) -> tuple[bytes, int]:
    """``annexb`` with every content-light-level SEI and x265 settings text saying ``maxcll``, ``maxfall``.

    Returns the new bytes and how many content-light-level SEI messages were
    set (0 for a picture that repeats no headers). Precondition: 0 <= each
    level <= 65535.
    """
    out = bytearray()
    done = last = 0
    for a, b in _nal_spans(annexb):
        if (annexb[a] >> 1) & 0x3F != PREFIX_SEI:
            continue
        nal, count = _patch_sei(annexb[a:b], maxcll, maxfall)
        out += annexb[last:a]
        out += nal
        last, done = b, done + count
    out += annexb[last:]
    return bytes(out), done


def _nal_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each NAL unit's bytes, start codes and the zeros before them excluded."""
    spans = []
    i = data.find(_START)
    while i != -1:
        start = i + len(_START)
        j = data.find(_START, start)
        end = len(data) if j == -1 else j
        if j != -1:
            while end > start and data[end - 1] == 0:  # a four-byte start code's leading zero
                end -= 1
        if end > start:
            spans.append((start, end))
        i = j
    return spans


def _patch_sei(nal: bytes, maxcll: int, maxfall: int) -> tuple[bytes, int]:
    rbsp = _unescape(nal)
    pos, messages = 2, []
    while pos < len(rbsp) - 1:  # the last byte is rbsp_trailing_bits (0x80)
        ptype, pos = _varint(rbsp, pos)
        size, pos = _varint(rbsp, pos)
        if pos + size > len(rbsp) - 1:
            raise SEIError(f"an SEI message of type {ptype} runs past its NAL unit")
        messages.append((ptype, rbsp[pos : pos + size]))
        pos += size
    if rbsp[-1:] != b"\x80":
        raise SEIError("an SEI NAL unit without its trailing bits")
    count = 0
    body = bytearray(rbsp[:2])
    for ptype, payload in messages:
        if ptype == CONTENT_LIGHT_LEVEL:
            if len(payload) != 4:
                raise SEIError(f"a content-light-level SEI of {len(payload)} bytes, not 4")
            payload, count = struct.pack(">HH", maxcll, maxfall), count + 1
        elif ptype == USER_DATA_UNREGISTERED and b"x265" in payload:
            payload, found = _SETTINGS.subn(f" cll={maxcll},{maxfall} ".encode(), payload)
            if found != 1:
                raise SEIError(f"x265's settings text names its light levels {found} times, not once")
        body += _varint_bytes(ptype) + _varint_bytes(len(payload)) + payload
    body += b"\x80"
    return _escape(bytes(body)), count


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """An SEI payload type or size: 0xFF bytes adding 255 each, then the rest."""
    value = 0
    while pos < len(data) and data[pos] == 0xFF:
        value, pos = value + 255, pos + 1
    if pos >= len(data):
        raise SEIError("an SEI message header runs past its NAL unit")
    return value + data[pos], pos + 1


def _varint_bytes(value: int) -> bytes:
    return b"\xff" * (value // 255) + bytes([value % 255])


def _unescape(nal: bytes) -> bytes:
    """The RBSP: every emulation-prevention byte (0x03 after two zeros) removed."""
    out, zeros = bytearray(), 0
    for byte in nal:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _escape(rbsp: bytes) -> bytes:
    """The NAL unit: 0x03 put before any byte up to 3 that follows two zeros."""
    out, zeros = bytearray(), 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)
