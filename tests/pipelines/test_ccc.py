"""grades.ccc: an ASC CDL v1.2 ColorCorrectionCollection, read back by XML and by OpenColorIO."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction

import numpy as np
import PyOpenColorIO as ocio
import pytest

from pipelines.color.ccc import NAMESPACE, ccc_document, decimal_text
from pipelines.color.cdl import CDL
from pipelines.master.delivered_cut import DeliveredCut, DeliveredShot, grades_ccc, media_runs
from pipelines.spec.sequence import FrameRange

NS = {"cdl": NAMESPACE}
GRADED = CDL(slope=(1.2345678, 0.9, 1.1), offset=(0.0123456789, -0.02, 0.0), power=(1.1, 0.95, 1.0), saturation=0.8)


def parse(data: bytes) -> dict[str, CDL]:
    """id -> CDL, in document order, read with nothing but xml.etree."""
    root = ET.fromstring(data)
    assert root.tag == f"{{{NAMESPACE}}}ColorCorrectionCollection"
    out = {}
    for cc in root.findall("cdl:ColorCorrection", NS):

        def triple(tag: str, cc: ET.Element = cc) -> tuple[float, ...]:
            return tuple(float(v) for v in cc.findtext(f"cdl:SOPNode/cdl:{tag}", namespaces=NS).split())

        sat = float(cc.findtext("cdl:SATNode/cdl:Saturation", namespaces=NS))
        out[cc.get("id")] = CDL(slope=triple("Slope"), offset=triple("Offset"), power=triple("Power"), saturation=sat)
    return out


def shot(name: str, first: int, last: int, *grades: CDL) -> DeliveredShot:
    keys = {f: f"demo/sq/shots/{name}/v1/a1/{f:06d}.exr" for f in range(first, last + 1)}
    return DeliveredShot(name=name, frames=FrameRange(first=first, last=last), grades=grades, media=media_runs(keys))


def cut(*shots: DeliveredShot) -> DeliveredCut:
    return DeliveredCut(name="demo / sq", fps=Fraction(24), start_timecode="01:00:00:00", shots=shots)


def test_values_read_back_to_six_significant_digits():
    (read,) = parse(ccc_document([("sh010", GRADED)])).values()
    for got, want in zip(
        (*read.slope, *read.offset, *read.power, read.saturation), (*GRADED.slope, *GRADED.offset, *GRADED.power, GRADED.saturation)
    ):
        assert f"{got:.6g}" == f"{want:.6g}"


def test_every_shot_is_listed_in_timeline_order_and_ungraded_ones_are_identities():
    data = grades_ccc(cut(shot("sh010", 1001, 1010), shot("sh020", 1011, 1020, GRADED), shot("sh030", 1021, 1030)))
    read = parse(data)
    assert list(read) == ["sh010", "sh020", "sh030"]
    assert read["sh010"].is_identity and read["sh030"].is_identity
    assert read["sh020"] == GRADED


def test_continuity_fixes_after_a_shots_grade_are_composed_into_its_one_correction():
    own, fix = CDL(slope=(1.1, 1.1, 1.1)), CDL(slope=(0.8, 0.9, 1.0), offset=(-0.01, 0.0, 0.0), saturation=0.9)
    read = parse(grades_ccc(cut(shot("sh010", 1001, 1010), shot("sh050", 1011, 1020, own, fix))))
    assert list(read) == ["sh010", "sh050"]
    assert read["sh050"].slope == pytest.approx((0.88, 0.99, 1.1))
    assert read["sh050"].offset == pytest.approx((-0.01, 0.0, 0.0)) and read["sh050"].saturation == pytest.approx(0.9)


def test_a_chain_that_does_not_compose_is_written_in_order_as_shot_then_shot_2():
    first, second = CDL(power=(2.0, 2.0, 2.0)), CDL(offset=(0.1, 0.1, 0.1))
    read = parse(grades_ccc(cut(shot("sh010", 1001, 1010, first, second), shot("sh020", 1011, 1020))))
    assert list(read) == ["sh010", "sh010.2", "sh020"]
    assert (read["sh010"], read["sh010.2"]) == (first, second)


def test_a_chain_id_never_takes_a_shots_name():
    chain = (CDL(power=(2.0, 2.0, 2.0)), CDL(offset=(0.1, 0.1, 0.1)))
    read = parse(grades_ccc(cut(shot("sh010", 1001, 1010, *chain), shot("sh010.2", 1011, 1020))))
    assert list(read) == ["sh010", "sh010.2_", "sh010.2"]
    assert read["sh010.2"].is_identity and read["sh010.2_"] == chain[1]


@pytest.mark.parametrize(
    "value, text",
    [(1.0, "1.0"), (0.00001, "0.00001"), (-0.0, "0.0"), (1e20, "100000000000000000000"), (0.1, "0.1"), (1.2345678, "1.2345678")],
)
def test_numbers_are_plain_decimals_that_read_back_as_themselves(value, text):
    assert decimal_text(value) == text and float(text) == value


def test_a_repeated_id_is_refused():
    with pytest.raises(ValueError, match="sh010"):
        ccc_document([("sh010", CDL()), ("sh010", GRADED)])


def test_opencolorio_grades_with_the_file_as_shotfarm_does(tmp_path):
    """OCIO reads .ccc files with no clamp; on pixels the offset keeps positive, the two agree."""
    path = tmp_path / "grades.ccc"
    path.write_bytes(grades_ccc(cut(shot("sh010", 1001, 1010), shot("sh020", 1011, 1020, GRADED))))
    pixels = np.random.default_rng(3).uniform(0.05, 4.0, (256, 3)).astype(np.float32)
    config = ocio.Config.CreateRaw()
    for cc_id, cdl in (("sh010", CDL()), ("sh020", GRADED)):
        processor = config.getProcessor(ocio.FileTransform(src=str(path), cccId=cc_id)).getDefaultCPUProcessor()
        out = pixels.copy()
        processor.applyRGB(out)
        np.testing.assert_allclose(out, cdl.apply(pixels), rtol=2e-5, atol=1e-6)
