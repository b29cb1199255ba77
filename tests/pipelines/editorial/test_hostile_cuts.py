"""Cut lists nobody checked: every one is refused with a reason naming the file, none crashes the process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from pipelines.editorial.cut import EditorialError
from pipelines.editorial.edl import read_edl
from pipelines.editorial.mapping import build_sequence, parse_mapping
from pipelines.editorial.otio import read_otio
from pipelines.spec import limits
from pipelines.spec.loading import SpecError
from tests.pipelines.editorial.support import mapping

ROOT = Path(__file__).resolve().parents[3]


def timeline(*clips: tuple[str, float, float], rate: float = 24.0, start: float | None = None) -> bytes:
    """An .otio document built with OpenTimelineIO's own API: (name, source start, duration) per clip."""
    track = otio.schema.Track(name="V1")
    for name, first, duration in clips:
        rng = otio.opentime.TimeRange(otio.opentime.RationalTime(first, rate), otio.opentime.RationalTime(duration, rate))
        track.append(otio.schema.Clip(name=name, source_range=rng))
    tl = otio.schema.Timeline(name="cut", tracks=[track])
    if start is not None:
        tl.global_start_time = otio.opentime.RationalTime(start, rate)
    return otio.adapters.write_to_string(tl, "otio_json").encode()


def nested(depth: int) -> bytes:
    """A Timeline whose metadata nests `depth` levels: valid JSON, hostile to a recursive parser."""
    doc = json.loads(timeline(("a", 0, 12)))
    doc["metadata"] = {"x": None}
    return json.dumps(doc).replace('"x": null', '"x": ' + "[" * depth + "]" * depth).encode()


def test_a_50000_level_otio_document_is_refused_and_the_process_lives():
    # OTIO's parser recurses in C++: unchecked, this document kills the process (SIGSEGV).
    code = textwrap.dedent(
        """
        import sys
        from pipelines.editorial.cut import EditorialError
        from pipelines.editorial.otio import read_otio
        from tests.pipelines.editorial.test_hostile_cuts import nested
        try:
            read_otio(nested(50_000), "deep.otio")
        except EditorialError as e:
            print(e.render())
            sys.exit(0)
        sys.exit(3)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"deep.otio: nested more than {limits.MAX_OTIO_DEPTH} levels deep" in done.stdout


def test_nesting_within_the_otio_limit_still_reads():
    assert read_otio(nested(limits.MAX_OTIO_DEPTH - 8), "ok.otio").clips[0].name == "a"


@pytest.mark.parametrize(
    "clips, where",
    [
        ([("a", 0, float("nan"))], "duration"),
        ([("a", float("nan"), 12)], ""),
        ([("a", 0, float("inf"))], "duration"),
        ([("a", 0, 1e15)], "duration"),
    ],
    ids=["NaN duration", "NaN start", "infinite duration", "1e15 frames"],
)
def test_hostile_clip_times_are_an_editorial_error_never_a_crash(clips, where):
    with pytest.raises(EditorialError) as err:
        read_otio(timeline(*clips), "hostile.otio")
    assert err.value.source == "hostile.otio"
    assert any(where in path for path, _ in err.value.problems)


def test_a_nan_start_time_of_the_timeline_is_refused():
    with pytest.raises(EditorialError, match="global_start_time"):
        read_otio(timeline(("a", 0, 12), start=float("nan")), "t.otio")


def test_a_clip_name_past_the_label_limit_is_refused_with_its_path():
    with pytest.raises(EditorialError) as err:
        read_otio(timeline(("x" * (limits.MAX_LABEL + 1), 0, 12)), "t.otio")
    assert any(path.endswith("name") for path, _ in err.value.problems)


def test_an_otio_file_over_the_size_limit_is_refused_before_parsing():
    with pytest.raises(EditorialError, match="over the limit"):
        read_otio(b" " * (limits.MAX_CUT_BYTES + 1), "big.otio")


def test_a_shot_as_long_as_a_day_is_refused_by_the_sequence_limits():
    edl = (
        "TITLE: day\nFCM: NON-DROP FRAME\n\n"
        "001  AX       V     C        00:00:00:00 23:59:59:00 01:00:00:00 24:59:59:00\n"
        "* FROM CLIP NAME: day_long\n"
    )
    cut = read_edl(edl.encode(), "day.edl", Fraction(24))
    with pytest.raises(SpecError) as err:
        build_sequence(cut, parse_mapping(mapping()))
    assert any("MAX_SHOT_FRAMES" in message for _, message in err.value.problems)


def test_a_cut_placed_past_the_last_frame_number_is_refused_naming_first_frame():
    cut = read_otio(timeline(("a", 0, 12)), "t.otio")
    with pytest.raises(EditorialError) as err:
        build_sequence(cut, parse_mapping(mapping(first_frame=limits.MAX_FRAME)))
    assert err.value.problems[0][0] == "first_frame"


@pytest.mark.parametrize(
    "extra, path",
    [
        ({"first_frame": True}, "first_frame"),
        ({"handles": 1e9}, "handles"),
        ({"resolution": [31, 18]}, "resolution[0]"),
        ({"seed": 2**40}, "seed"),
        ({"by_index": {str(limits.MAX_SHOTS + 1): {"shot": "x"}}}, "by_index"),
        ({"fps": "1e99999999"}, "fps"),
    ],
)
def test_hostile_mapping_values_are_refused_with_their_path(extra, path):
    with pytest.raises(EditorialError) as err:
        parse_mapping(mapping(**extra))
    assert any(p.startswith(path) for p, _ in err.value.problems)
