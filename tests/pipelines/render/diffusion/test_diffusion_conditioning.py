"""A generated take conditioned on its neighbour's frame starts from that frame: the picture reaches the clip.

The model is build_tiny_model.py --conditioned: Wan 2.2 TI2V's layout (one
model for text- and image-to-video, the picture's VAE encoding kept as the
clip's first latent frame) with a VAE that gives a picture back, blurred to
8x8 block means. Its transformer is random, so only the first frame carries
the picture; that is what the takes are compared on, in ACEScg as the
engine hands frames to the farm.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction

import numpy as np
import pytest

from pipelines.exr import decode_frame, encode_frame, timecode
from pipelines.render.engines.diffusion import model
from tests.pipelines.render.diffusion import support

FIRST = 1001
NEIGHBOUR = "store:seq/sh010/exr/1012.exr"


def neighbour_frame() -> np.ndarray:
    """The last frame of the shot before, as the farm writes it: scene-linear ACEScg, a sky over a lit ground."""
    rows = np.linspace(0.0, 1.0, 32, dtype=np.float32)[:, None, None]
    cols = np.linspace(0.0, 1.0, 32, dtype=np.float32)[None, :, None]
    sky = np.array([0.08, 0.16, 0.45], np.float32) + rows * np.array([0.20, 0.18, 0.05], np.float32)
    ground = np.array([0.18, 0.12, 0.05], np.float32) * (0.6 + 0.8 * cols)
    return np.where(rows < 0.55, sky, ground).astype(np.float32) * np.ones((32, 32, 3), np.float32)


@pytest.fixture
def store() -> support.Store:
    s = support.Store()
    s.objects[NEIGHBOUR.removeprefix("store:")] = encode_frame(neighbour_frame(), fps=Fraction(24), timecode=timecode(11, Fraction(24)), attributes={})
    return s


def take(folder, store, tmp_path, **options):
    engine = support.engine(tmp_path, store)
    try:
        engine.load(support.setup(folder, **options))
        return list(engine.render_chunk(FIRST, FIRST + 4))
    finally:
        engine.close()


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference in ACEScg."""
    return float(np.abs(a - b).mean())


def test_a_take_conditioned_on_the_neighbour_frame_starts_closer_to_it_than_an_unconditioned_take(conditioned, store, tmp_path):
    neighbour = decode_frame(store.objects[NEIGHBOUR.removeprefix("store:")])[0]
    with_picture = take(conditioned, store, tmp_path / "a", seed=7, image=NEIGHBOUR)
    without = take(conditioned, store, tmp_path / "b", seed=7)
    near, far = distance(with_picture[0].pixels, neighbour), distance(without[0].pixels, neighbour)
    assert near * 5 < far, (near, far)
    assert with_picture[0].attributes["pipeline"] == "WanImageToVideoPipeline"
    assert without[0].attributes["pipeline"] == "WanPipeline"  # the same model, from text alone
    assert with_picture[0].attributes["modelDigest"] == without[0].attributes["modelDigest"]


def test_the_conditioned_first_frame_keeps_the_neighbour_frame_s_layout(conditioned, store, tmp_path):
    neighbour = decode_frame(store.objects[NEIGHBOUR.removeprefix("store:")])[0]
    first = take(conditioned, store, tmp_path, seed=7, image=NEIGHBOUR)[0].pixels
    # The sky's top rows and the ground's bottom rows, away from the horizon the VAE blurs: each keeps its colour.
    sky, ground = neighbour[:8].mean(axis=(0, 1)), neighbour[-8:].mean(axis=(0, 1))
    top, bottom = first[:8].mean(axis=(0, 1)), first[-8:].mean(axis=(0, 1))
    apart = np.abs(sky - ground).max()
    assert np.abs(top - sky).max() < apart / 10 and np.abs(bottom - ground).max() < apart / 10


def test_another_picture_starts_another_clip(conditioned, store, tmp_path):
    store.objects["refs/red.exr"] = encode_frame(np.full((32, 32, 3), (0.5, 0.04, 0.03), np.float32), fps=Fraction(24), timecode=timecode(0, Fraction(24)), attributes={})
    red = take(conditioned, store, tmp_path / "red", seed=7, image="store:refs/red.exr")[0].pixels
    sky = take(conditioned, store, tmp_path / "sky", seed=7, image=NEIGHBOUR)[0].pixels
    assert red[..., 0].mean() > 3 * sky[..., 0].mean() and sky[..., 2].mean() > 3 * red[..., 2].mean()


@pytest.mark.parametrize("image", [NEIGHBOUR, None])
def test_the_same_seed_regenerates_a_text_and_image_take_bit_for_bit(conditioned, store, tmp_path, image):
    options = {"seed": 3} | ({"image": image} if image else {})
    one = np.stack([f.pixels for f in take(conditioned, store, tmp_path / "one", **options)])
    two = np.stack([f.pixels for f in take(conditioned, store, tmp_path / "two", **options)])
    other = np.stack([f.pixels for f in take(conditioned, store, tmp_path / "other", **options | {"seed": 4})])
    assert np.array_equal(one, two)
    assert not np.array_equal(one, other)


def test_the_conditioning_frame_is_recorded_by_digest(conditioned, store, tmp_path):
    record = take(conditioned, store, tmp_path, image=NEIGHBOUR)[0].attributes
    assert record["image"] == NEIGHBOUR
    assert record["imageDigest"] == hashlib.sha256(store.objects[NEIGHBOUR.removeprefix("store:")]).hexdigest()


def test_a_text_and_image_model_takes_no_last_picture(conditioned, store, tmp_path):
    engine = support.engine(tmp_path, store)
    with pytest.raises(ValueError, match=r"\(Wan 2.2 TI2V\): the shot takes no engine.options.last_image"):
        engine.load(support.setup(conditioned, image=NEIGHBOUR, last_image=NEIGHBOUR))


def test_the_builder_writes_the_same_files_for_the_same_arguments(conditioned, tmp_path):
    from tests.pipelines.render.diffusion.conftest import _builder

    again = _builder().build(tmp_path / "again", conditioned=True)
    assert model.digest(again) == model.digest(conditioned)
    assert model.text_and_image(model.index(again)) and not (again / "image_encoder").exists()


def test_the_builder_refuses_a_conditioned_model_with_a_clip_image_encoder(tmp_path):
    from tests.pipelines.render.diffusion.conftest import _builder

    with pytest.raises(ValueError, match="its own kind of model"):
        _builder().build(tmp_path / "both", conditioned=True, image_to_video=True)
