"""The render node: engines built through the registry, kept warm per setup, and what each frame's header says."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from importlib.metadata import EntryPoint

import numpy as np
import pytest

from nodes.actors.render import RenderNode, fetch
from nodes.errors import PermanentError, TransientError
from nodes.protocol import ChunkOrder
from nodes.storage.base import DigestMismatch, sha256
from nodes.storage.memory import MemoryStore
from pipelines.exr import decode_frame, encode_frame, read_header
from pipelines.render.engines import registry
from pipelines.render.engines.base import ENTRY_POINT_GROUP, EngineInfo, RenderedFrame
from pipelines.render.reported import reported
from pipelines.spec.setup import ShotSetup, shot_setup
from pipelines.spec.sources import BlendFile
from tests.builders import SID, sequence, shot

SEQ = sequence(shot("sh010", 1001, 1004, angle=30), shot("sh020", 1005, 1006, angle=-40))


def order(setup: ShotSetup, first: int, last: int, engine: str = "pathtracer", attempt: int = 1) -> ChunkOrder:
    return ChunkOrder(
        sequence_id=SID, chunk_id=f"{setup.shot}-{first}", attempt=attempt, setup=setup, first=first, last=last,
        key_prefix=f"demo/sq010/shots/{setup.shot}/v1/a{attempt}", fps=Fraction(24), start_timecode="01:00:00:00",
        timeline_first=1001, engine=engine,
    )  # fmt: skip


class Stumbling:
    """An engine that renders grey until the frame named by its `stumble` option, and raises there."""

    name = "stumbling"
    closed = 0

    def __init__(self, context):
        self.setup = None

    def load(self, setup):
        self.setup = setup

    def render_chunk(self, first, last):
        for frame in range(first, last + 1):
            if frame == self.setup.options.get("stumble"):
                raise RuntimeError(f"lost the device at frame {frame}")
            yield RenderedFrame(frame=frame + int(self.setup.options.get("skew", 0)), pixels=np.full((18, 32, 3), 0.18, np.float32))

    def close(self):
        Stumbling.closed += 1


STUMBLING = EngineInfo(name="stumbling", summary="fails on request", build=Stumbling)
LACKING = EngineInfo(name="lacking", summary="needs a licence", build=Stumbling, probe=lambda: "no licence server answers")  # type: ignore[arg-type]


@pytest.fixture
def installed(monkeypatch):
    """Engines declared by this module, found through entry points as installed ones are."""
    points = [EntryPoint(name=n, value=f"{__name__}:{n.upper()}", group=ENTRY_POINT_GROUP) for n in ("stumbling", "lacking")]
    monkeypatch.setattr(registry, "available", lambda: registry.declared(points))


@pytest.fixture
def node(tmp_path):
    made = RenderNode("cpu-0", str(tmp_path))
    yield made
    made.close()


def header_of(node: RenderNode, key: str) -> dict:
    return read_header(node.store.get(key))


def test_each_frame_records_the_camera_that_rendered_it_and_reported_reads_it_back(node):
    setup = shot_setup(SEQ, "sh010")
    result = node.render(order(setup, 1001, 1004))
    for stored in result.frames:
        header = header_of(node, stored.key)
        key = setup.camera.at(setup.relative(stored.frame))
        back = reported(header)
        assert back.camera.position == pytest.approx(key.position, abs=1e-9)
        assert back.camera.fov == pytest.approx(key.fov)
        assert back.objects == {"orb": (0.0, 1.0, 0.0)}


def test_world_to_camera_is_the_standard_attribute_in_openexrs_row_vector_convention(node):
    setup = shot_setup(SEQ, "sh020")
    (stored,) = node.render(order(setup, 1005, 1005)).frames
    header = header_of(node, stored.key)
    m = np.asarray(header["worldToCamera"], dtype=np.float64)
    key = setup.camera.at(0)

    def to_camera(p):  # Imath multiplies row vectors: p' = p M
        return np.append(np.asarray(p, dtype=np.float64), 1.0) @ m

    assert to_camera(key.position)[:3] == pytest.approx((0, 0, 0), abs=1e-5)
    aim = to_camera(key.look_at)[:3]
    # The standard's camera space is left-handed: the camera looks down +Z.
    assert aim[0] == pytest.approx(0, abs=1e-5) and aim[1] == pytest.approx(0, abs=1e-5) and aim[2] > 0
    flip_z = np.diag([1.0, 1.0, -1.0, 1.0])
    assert np.allclose((flip_z @ m.T).ravel(), reported(header).camera.world_to_camera, atol=1e-6)


def test_each_frame_names_its_engine_and_carries_the_engines_provenance_under_its_name(node):
    (stored,) = node.render(order(shot_setup(SEQ, "sh010"), 1002, 1002)).frames
    header = header_of(node, stored.key)
    assert header["shotfarm/engine"] == "pathtracer"
    assert header["shotfarm/pathtracer.samples"] == str(SEQ.samples)
    assert header["shotfarm/shot"] == "sh010" and header["shotfarm/frame"] == 1002


def test_one_engine_per_name_stays_loaded_and_loads_again_only_when_the_setup_changes(node):
    loads = []
    first = shot_setup(SEQ, "sh010")
    node.render(order(first, 1001, 1001))
    engine = node._engines["pathtracer"]
    real_load = engine.load
    engine.load = lambda setup: (loads.append(setup.shot), real_load(setup))  # type: ignore[method-assign]
    node.render(order(first, 1002, 1003))
    assert loads == [] and node._engines["pathtracer"] is engine
    node.render(order(shot_setup(SEQ, "sh020"), 1005, 1006))
    node.render(order(first.model_copy(update={"seed": 9}), 1004, 1004))
    assert loads == ["sh020", "sh010"] and node._engines["pathtracer"] is engine


def test_an_unknown_engine_fails_the_chunk_for_good_naming_the_installed_ones(node):
    with pytest.raises(PermanentError, match=r"unknown engine 'renderman'; installed engines: .*pathtracer"):
        node.render(order(shot_setup(SEQ, "sh010"), 1001, 1001, engine="renderman"))


def test_a_shot_the_engine_cannot_load_fails_for_good_naming_engine_shot_and_file(node):
    setup = shot_setup(SEQ, "sh010")
    studio = setup.model_copy(update={"scene": setup.scene.model_copy(update={"blend": BlendFile(file="/shows/demo/set.blend")})})
    with pytest.raises(PermanentError, match=r"engine pathtracer cannot load shot sh010 from /shows/demo/set.blend: .*spec scenes"):
        node.render(order(studio, 1001, 1001))
    assert "pathtracer" not in node._engines  # a half-loaded engine is not kept
    assert node.render(order(setup, 1001, 1001)).frames  # the next shot gets a fresh one


def test_an_engine_that_cannot_run_on_this_node_fails_the_chunk_for_a_retry_elsewhere(node, installed):
    with pytest.raises(TransientError, match="lacking.*no licence server answers"):
        node.render(order(shot_setup(SEQ, "sh010"), 1001, 1001, engine="lacking"))


def test_an_engine_that_fails_mid_chunk_is_closed_and_the_retry_gets_a_fresh_one(node, installed):
    setup = shot_setup(SEQ, "sh010").model_copy(update={"options": {"stumble": 1003}})
    closed = Stumbling.closed
    with pytest.raises(RuntimeError, match="lost the device at frame 1003"):
        node.render(order(setup, 1001, 1004, engine="stumbling"))
    assert Stumbling.closed == closed + 1 and "stumbling" not in node._engines
    retried = node.render(order(setup.model_copy(update={"options": {}}), 1001, 1004, engine="stumbling", attempt=2))
    assert [f.frame for f in retried.frames] == [1001, 1002, 1003, 1004]


def test_an_engine_that_returns_frames_out_of_order_fails_the_chunk(node, installed):
    setup = shot_setup(SEQ, "sh010").model_copy(update={"options": {"skew": 1}})
    with pytest.raises(RuntimeError, match="returned frame 1002 where 1001 was due"):
        node.render(order(setup, 1001, 1002, engine="stumbling"))


def test_close_closes_every_engine_and_removes_the_scratch_folder_and_is_safe_twice(tmp_path):
    made = RenderNode("cpu-7", str(tmp_path))
    made.render(order(shot_setup(SEQ, "sh010"), 1001, 1001))
    scratch = made.scratch
    assert (scratch / "pathtracer").is_dir() and scratch.parent.stat().st_mode & 0o077 == 0
    made.close()
    made.close()
    assert not scratch.exists() and made._engines == {}


def test_a_scratch_folder_a_killed_node_left_is_removed_by_the_next_node(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    first = RenderNode("cpu-0", str(tmp_path))
    left = first.scratch.parent / f"cpu_1-gone-{int(dead.stdout)}"
    left.mkdir()
    second = RenderNode("cpu-1", str(tmp_path))
    try:
        assert not left.exists() and first.scratch.exists()  # a live node's folder is left alone
    finally:
        first.close()
        second.close()


def test_a_store_file_pinned_by_digest_is_read_only_when_its_bytes_match():
    store = MemoryStore()
    store.put("scenes/set.blend", b"BLENDER-v500")
    good = sha256(b"BLENDER-v500")
    assert fetch(store, f"store:scenes/set.blend@{good}") == b"BLENDER-v500"
    assert fetch(store, "scenes/set.blend") == b"BLENDER-v500"
    with pytest.raises(DigestMismatch):
        fetch(store, f"scenes/set.blend@{sha256(b'other')}")
    with pytest.raises(ValueError, match="64 lowercase hex"):
        fetch(store, "scenes/set.blend@abc")


# -- the codec's standard attributes ---------------------------------------------------

PIXELS = np.full((4, 6, 3), 0.25, dtype=np.float32)
META = {"fps": Fraction(24), "timecode": (1, 0, 0, 0), "attributes": {"shot": "sh010"}}


def test_a_frame_without_standard_attributes_is_byte_for_byte_what_it_was():
    plain = encode_frame(PIXELS, **META)
    assert encode_frame(PIXELS, **META, standard=None) == plain == encode_frame(PIXELS, **META, standard={})
    assert "worldToCamera" not in read_header(plain)


def test_a_standard_matrix_round_trips_and_leaves_the_pixels_alone():
    m = np.arange(16, dtype=np.float64).reshape(4, 4) / 8
    data = encode_frame(PIXELS, **META, standard={"worldToCamera": m.tolist()})
    pixels, header = decode_frame(data)
    assert np.array_equal(header["worldToCamera"], m.astype(np.float32)) and np.array_equal(pixels, PIXELS)


@pytest.mark.parametrize(
    "standard, message",
    [
        ({"compression": "none"}, "codec's own"),
        ({"shotfarm/camera": "x"}, "belongs under attributes"),
        ({"worldToCamera": [[1, 2], [3, 4]]}, "4x4 matrix"),
        ({"worldToCamera": np.full((4, 4), np.nan)}, "finite"),
        ({"": "x"}, "non-empty"),
    ],
)
def test_standard_attributes_the_codec_cannot_write_faithfully_are_refused(standard, message):
    with pytest.raises(ValueError, match=message):
        encode_frame(PIXELS, **META, standard=standard)


def test_chunks_sent_in_one_call_render_in_turn_and_come_back_in_order(node):
    setup = shot_setup(SEQ, "sh010")
    results = node.render_many([order(setup, 1001, 1002), order(setup, 1003, 1004)], within=3600)
    assert [r.chunk_id for r in results] == ["sh010-1001", "sh010-1003"]
    assert [f.frame for r in results for f in r.frames] == [1001, 1002, 1003, 1004]


def test_a_call_of_several_chunks_starts_no_other_once_its_time_is_up(node):
    setup = shot_setup(SEQ, "sh010")
    results = node.render_many([order(setup, 1001, 1001), order(setup, 1002, 1002)], within=0)
    assert [r.chunk_id for r in results] == ["sh010-1001"]  # the caller sends the second again on its own


def test_the_first_chunks_failure_is_the_calls(node, installed):
    setup = shot_setup(SEQ, "sh010").model_copy(update={"options": {"stumble": 1001}})
    with pytest.raises(RuntimeError, match="lost the device at frame 1001"):
        node.render_many([order(setup, 1001, 1001, engine="stumbling"), order(setup, 1002, 1002, engine="stumbling")], within=3600)


def test_a_later_chunks_failure_ends_the_call_with_the_chunks_before_it(node, installed):
    setup = shot_setup(SEQ, "sh010").model_copy(update={"options": {"stumble": 1002}})
    orders = [order(setup, 1001, 1001, engine="stumbling"), order(setup, 1002, 1002, engine="stumbling"), order(setup, 1003, 1003, engine="stumbling")]
    results = node.render_many(orders, within=3600)
    assert [r.chunk_id for r in results] == ["sh010-1001"]
