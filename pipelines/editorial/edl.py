"""CMX3600 EDLs -> EditorialCut, read through OpenTimelineIO's cmx_3600 adapter.

What an EDL brings: events become clips (the `* FROM CLIP NAME` comment names
them), `D nnn` events become dissolves, `*ASC_SOP`/`*ASC_SAT` lines become
initial grades and `* LOC` lines become notes. An EDL carries no frame rate,
so the caller gives one.

Must never read files or guess a rate: it parses the text it is given.
"""

from __future__ import annotations

from fractions import Fraction

from pipelines.editorial.cut import EditorialCut, EditorialError
from pipelines.editorial.otio import read_cmx3600

# EDLs predate Unicode; studio tools still write Latin-1 names.
_ENCODINGS = ("utf-8-sig", "latin-1")


def decode_edl(data: bytes, source: str) -> str:
    if b"\x00" in data:
        raise EditorialError(source, [("", "binary data, not an EDL")])
    for encoding in _ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise EditorialError(source, [("", "cannot decode the text")])  # latin-1 decodes anything; kept for clarity


def read_edl(data: bytes, source: str, fps: Fraction, track: int = 0) -> EditorialCut:
    """Every event of the EDL's picture track as a clip, in record order."""
    text = decode_edl(data, source)
    if not any(line.strip()[:3].isdigit() for line in text.splitlines()):
        raise EditorialError(source, [("", "no edit events (lines starting with an event number)")])
    return read_cmx3600(text, source, fps, track)
