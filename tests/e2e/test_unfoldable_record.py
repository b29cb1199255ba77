"""A farm whose log holds a record it cannot fold still starts, renders every other show, and recovers.

The record is what an older release wrote for a NaN radius (null where a
number must be): before, every replay failed and the output folder could not
be rendered into at all.
"""

from __future__ import annotations

import pytest

from orchestrator.config.settings import FarmSettings
from orchestrator.core import events as ev
from orchestrator.core.admission import BadRequest
from orchestrator.eventlog.sqlite import SqliteEventLog
from orchestrator.eventlog.verify import verify
from orchestrator.interfaces.embedded import LOG_NAME, render
from orchestrator.interfaces.retire import retire
from tests.builders import SID, sequence, shot, spec

pytestmark = pytest.mark.ray


def poison(out) -> None:
    data = spec()
    data["scenes"]["set"]["objects"][1]["radius"] = None
    out.mkdir(parents=True, exist_ok=True)
    log = SqliteEventLog(out / LOG_NAME)
    log.append(ev.SequenceSubmitted(at=1.0, sequence_id=SID, spec=data, spec_digest="old"))
    log.close()


def test_other_shows_render_beside_a_set_aside_sequence_which_renders_again_once_retired(ray_session, tmp_path):
    out = tmp_path / "out"
    poison(out)
    other = sequence(shot("sh010", 1001, 1002), show="other")
    assert render(other, out, FarmSettings(chunk_frames=2), poll=0.1).status.value == "completed"

    report = verify(out / LOG_NAME)
    assert [f.seq for f in report.findings if f.level == "error"] == [1]
    assert {s.sequence_id: s.status for s in report.sequences} == {"other:sq010": "completed", SID: "set aside"}

    mine = sequence(shot("sh010", 1001, 1002))
    with pytest.raises(Exception) as refused:
        render(mine, out, FarmSettings(chunk_frames=2), poll=0.1)
    assert isinstance(getattr(refused.value, "cause", None) or refused.value, BadRequest)
    assert "set aside" in str(refused.value)

    retire(out / LOG_NAME, SID, "spec from an older release", "test")
    assert render(mine, out, FarmSettings(chunk_frames=2), poll=0.1).status.value == "completed"
    assert verify(out / LOG_NAME).ok
