"""Reading a farm config from YAML or JSON, with the spec loader's clear errors.

Problems come back as a SpecError listing every field path at once
(`classes[1].usd_per_hour: usd_per_hour must be zero or more, got -1`), so
the command line reports a bad farm config as it reports a bad spec.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from orchestrator.scheduling.farm import FarmConfig
from pipelines.spec.documents import read_document
from pipelines.spec.errors import SpecError, clean_message, field_path
from pipelines.spec.loading import read_file


def parse_farm(data: object, source: str = "<farm>") -> FarmConfig:
    if not isinstance(data, dict):
        raise SpecError(source, [("", f"expected a mapping at the top level, got {type(data).__name__}")])
    try:
        return FarmConfig.model_validate(data)
    except ValidationError as e:
        raise SpecError(source, [(field_path(err["loc"]), clean_message(err)) for err in e.errors()]) from None


def load_farm(path: str | Path) -> FarmConfig:
    p = Path(path)
    data = read_document(read_file(p), str(p), yaml_ok=p.suffix.lower() != ".json")
    return parse_farm(data, str(p))
