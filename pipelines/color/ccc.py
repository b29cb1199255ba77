"""ASC ColorCorrectionCollection (.ccc) documents: grades as a colourist's tools load them.

ASC CDL v1.2 XML, one ColorCorrection per id in the order given, each with a
SOPNode (Slope, Offset, Power) and a SATNode (Saturation). Numbers are written
in plain decimal notation, never with an exponent (the schema's values are
xs:decimal), and with every digit the float needs to read back as itself.
Writes bytes only: storing them is the caller's business.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from decimal import Decimal

from pipelines.color.cdl import CDL

NAMESPACE = "urn:ASC:CDL:v1.2"


def ccc_document(corrections: Iterable[tuple[str, CDL]], description: str = "") -> bytes:
    """A ColorCorrectionCollection; ids must be unique and non-empty, as the schema requires."""
    root = ET.Element("ColorCorrectionCollection", xmlns=NAMESPACE)
    if description:
        ET.SubElement(root, "Description").text = description
    seen: set[str] = set()
    for cc_id, cdl in corrections:
        if not cc_id or cc_id in seen:
            raise ValueError(f"ColorCorrection id {cc_id!r} is empty or used twice")
        seen.add(cc_id)
        root.append(_correction(cc_id, cdl))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'.encode()


def _correction(cc_id: str, cdl: CDL) -> ET.Element:
    cc = ET.Element("ColorCorrection", id=cc_id)
    sop = ET.SubElement(cc, "SOPNode")
    for tag, values in (("Slope", cdl.slope), ("Offset", cdl.offset), ("Power", cdl.power)):
        ET.SubElement(sop, tag).text = " ".join(decimal_text(v) for v in values)
    ET.SubElement(ET.SubElement(cc, "SATNode"), "Saturation").text = decimal_text(cdl.saturation)
    return cc


def decimal_text(value: float) -> str:
    """The shortest text that reads back as `value`, without an exponent (1e-05 -> 0.00001)."""
    return format(Decimal(repr(float(value) + 0.0)), "f")  # + 0.0 writes -0.0 as 0.0
