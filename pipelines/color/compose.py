"""Folding a chain of ASC CDLs, applied in order, into as few CDLs as grade the same.

A CDL is out = sat(max(in * slope + offset, 0) ** power). A chain is folded
only where the algebra is exact for every input, negative scene-linear values
included, never approximately for typical pixels: a .ccc or an EDL carrying
the result replaces the chain in a colourist's grading system. Per pair, A
then B:

- an identity CDL changes nothing and is dropped;
- when A has power 1 and saturation 1, A then B is one CDL with slope
  A.slope * B.slope, offset A.offset * B.slope + B.offset and B's power and
  saturation, provided in every channel B's offset is <= 0 or B's slope is 0.
  A clamps a negative result to 0, which B turns into max(B.offset, 0); the
  single CDL would give max(negative * B.slope + B.offset, 0) instead. The two
  agree exactly when B.offset <= 0 (both 0) or B.slope is 0 (both B.offset);
- when B is a saturation alone and A's saturation is at most 1, A then B is A
  with saturation A.sat * B.sat: A's output is then a mix of non-negative
  values, so B's clamp does nothing, and saturations about Rec.709 luma
  multiply because the luma weights sum to 1 (saturation keeps luma).

Anything else (a power followed by a slope or an offset, a saturation followed
by a per-channel slope) does not compose, and the chain keeps both CDLs.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import ValidationError

from pipelines.color.cdl import CDL


def compose(chain: Iterable[CDL]) -> tuple[CDL, ...]:
    """The shortest chain this left-to-right folding finds; () when the chain is an identity."""
    out: list[CDL] = []
    for cdl in chain:
        if cdl.is_identity:
            continue
        folded = _fold(out[-1], cdl) if out else None
        if folded is None:
            out.append(cdl)
        elif folded.is_identity:
            out.pop()
        else:
            out[-1] = folded
    return tuple(out)


def _fold(a: CDL, b: CDL) -> CDL | None:
    """One CDL that grades exactly as a then b, or None when there is none of this form."""
    try:
        if a.power == (1.0, 1.0, 1.0) and a.saturation == 1.0 and all(o <= 0 or s == 0 for s, o in zip(b.slope, b.offset)):
            return CDL(
                slope=_triple(sa * sb for sa, sb in zip(a.slope, b.slope)),
                offset=_triple(oa * sb + ob for oa, sb, ob in zip(a.offset, b.slope, b.offset)),
                power=b.power,
                saturation=b.saturation,
            )
        if _saturation_only(b) and a.saturation <= 1.0:
            return CDL.model_validate({**a.model_dump(), "saturation": a.saturation * b.saturation})
    except ValidationError:
        return None  # the folded numbers are past a CDL's bounds: keep the chain
    return None


def _saturation_only(cdl: CDL) -> bool:
    return cdl.model_copy(update={"saturation": 1.0}).is_identity


def _triple(values: Iterable[float]) -> tuple[float, float, float]:
    a, b, c = values
    return (a, b, c)
