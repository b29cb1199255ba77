"""The diffusion engine generates a shot as one clip from a local Wan model folder: real diffusers, tiny random weights.

The models are built with examples/generative/build_tiny_model.py (conftest),
saved with save_pretrained and loaded back by the engine from the folder.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from pipelines.render.engines.diffusion import display, model
from pipelines.render.engines.diffusion.options import clip_length
from tests.pipelines.render.diffusion import support

FIRST = 1001


def frames(engine, setup, count=9):
    engine.load(setup)
    return list(engine.render_chunk(FIRST, FIRST + count - 1))


def pixels(rendered) -> np.ndarray:
    return np.stack([f.pixels for f in rendered])


def png(colour, size=(32, 32)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def engine(tmp_path):
    e = support.engine(tmp_path)
    yield e
    e.close()


def test_the_same_seed_regenerates_the_take_bit_for_bit_in_a_fresh_engine(text_to_video, engine, tmp_path):
    first = pixels(frames(engine, support.setup(text_to_video, seed=11)))
    again = support.engine(tmp_path / "again")
    try:
        second = pixels(frames(again, support.setup(text_to_video, seed=11)))
    finally:
        again.close()
    assert first.dtype == np.float32 and first.shape == (9, 32, 32, 3)
    assert np.array_equal(first, second)


def test_another_seed_is_another_take(text_to_video, engine):
    one = pixels(frames(engine, support.setup(text_to_video, seed=1)))
    two = pixels(frames(engine, support.setup(text_to_video, seed=2)))
    assert not np.array_equal(one, two)


def test_every_frame_records_what_regenerates_it(text_to_video, engine):
    rendered = frames(engine, support.setup(text_to_video, seed=5, steps=3, guidance=4.5, negative_prompt="blur"))
    record = rendered[0].attributes
    assert record["modelDigest"] == model.digest(text_to_video)
    assert record["pipeline"] == "WanPipeline" and record["scheduler"] == "FlowMatchEulerDiscreteScheduler"
    assert (record["seed"], record["steps"], record["guidance"]) == ("5", "3", "4.5")
    assert (record["prompt"], record["negativePrompt"]) == ("a figure walks in rain at dusk", "blur")
    assert record["displayReferred"] == "true" and "inverse of sRGB - Display" in record["colourConversion"]
    assert [f.attributes["clipFrame"] for f in rendered] == [str(i) for i in range(9)]
    assert len({f.attributes["schedulerConfig"] for f in rendered}) == 1 and len(record["schedulerConfig"]) == 64


def test_the_model_digest_is_the_files_wherever_the_folder_is(text_to_video, tmp_path):
    import shutil

    copy = shutil.copytree(text_to_video, tmp_path / "elsewhere")
    assert model.digest(copy) == model.digest(text_to_video)
    (copy / "scheduler" / "scheduler_config.json").write_text('{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0}')
    assert model.digest(copy) != model.digest(text_to_video)


def test_generated_frames_enter_as_acescg_that_the_sdr_view_shows_as_the_model_made_them(text_to_video, engine):
    rendered = frames(engine, support.setup(text_to_video, seed=3))
    made = engine.generate_display(9)  # the pipeline's own display-encoded output for the same take
    shown = np.stack([display.to_picture(f.pixels) for f in rendered]).astype(np.float32) / 255.0
    assert np.abs(shown - made).max() <= 1.0 / 255.0 + 1e-6
    assert not np.allclose(pixels(rendered), made, atol=1e-3)  # scene-linear, not the display values


def test_the_pipeline_stays_loaded_between_shots_of_the_same_model(text_to_video, engine):
    frames(engine, support.setup(text_to_video, shot="sh010"))
    loaded = engine._pipe
    frames(engine, support.setup(text_to_video, shot="sh020", prompt="a red car at night"))
    assert engine._pipe is loaded


@pytest.mark.parametrize(("frames_asked", "clip"), [(1, 1), (2, 5), (5, 5), (6, 9), (9, 9), (10, 13)])
def test_a_chunk_is_covered_by_the_shortest_clip_wan_makes(frames_asked, clip):
    assert clip_length(frames_asked) == clip


def test_a_chunk_of_any_length_gets_exactly_its_frames(text_to_video, engine):
    rendered = frames(engine, support.setup(text_to_video), count=6)
    assert [f.frame for f in rendered] == list(range(FIRST, FIRST + 6))


def test_frames_come_at_the_sequence_resolution_when_wan_generates_another(text_to_video, engine):
    rendered = frames(engine, support.setup(text_to_video, resolution=(48, 26)), count=5)
    assert rendered[0].pixels.shape == (26, 48, 3)
    assert rendered[0].attributes["generatedSize"] == "48x32"


def test_a_missing_model_folder_is_named(engine, tmp_path):
    with pytest.raises(ValueError, match=f"model folder {tmp_path / 'nowhere'} does not exist"):
        engine.load(support.setup(tmp_path / "nowhere"))


@pytest.mark.parametrize(
    ("remove", "named"),
    [
        ("model_index.json", "has no model_index.json"),
        ("transformer/diffusion_pytorch_model.safetensors", r"missing transformer/'s weights"),
        ("vae/config.json", "missing vae/config.json"),
        ("tokenizer", "missing tokenizer/"),
    ],
)
def test_a_model_folder_missing_a_file_names_the_folder_and_the_file(text_to_video, engine, tmp_path, remove, named):
    import shutil

    copy = shutil.copytree(text_to_video, tmp_path / "broken")
    target = copy / remove
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(ValueError, match=f"model folder {copy}.*{named}|{named}.*{copy}"):
        engine.load(support.setup(copy))


def test_a_corrupt_weights_file_is_named_with_its_folder(text_to_video, engine, tmp_path):
    import shutil

    copy = shutil.copytree(text_to_video, tmp_path / "corrupt")
    weights = copy / "vae" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(ValueError, match=f"model folder {copy} cannot be loaded"):
        engine.load(support.setup(copy))


def test_a_model_the_engine_does_not_drive_is_refused_by_name(text_to_video, engine, tmp_path):
    import shutil

    copy = shutil.copytree(text_to_video, tmp_path / "other")
    index = copy / "model_index.json"
    index.write_text(index.read_text().replace('"WanPipeline"', '"StableDiffusionPipeline"'))
    with pytest.raises(ValueError, match="holds a 'StableDiffusionPipeline'; this engine drives WanPipeline"):
        engine.load(support.setup(copy))


def test_a_model_folder_from_the_store_is_unpacked_once_and_loads(text_to_video, tmp_path):
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(text_to_video, arcname="tiny-wan")
    store = support.Store()
    store.objects["models/tiny-wan.tar"] = buffer.getvalue()
    engine = support.engine(tmp_path / "node", store)
    try:
        rendered = frames(engine, support.setup("store:models/tiny-wan.tar", seed=4), count=5)
    finally:
        engine.close()
    assert rendered[0].attributes["modelDigest"] == model.digest(text_to_video)  # the same files, the same model
    assert rendered[0].attributes["model"] == "store:models/tiny-wan.tar"


def test_a_pinned_model_tar_is_read_from_the_store_once_per_node(text_to_video, tmp_path):
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(text_to_video, arcname=".")
    store = support.Store()
    store.objects["models/wan.tar"] = buffer.getvalue()
    ref = f"store:models/wan.tar@{hashlib.sha256(buffer.getvalue()).hexdigest()}"
    engine = support.engine(tmp_path / "node", store)
    try:
        engine.load(support.setup(ref, shot="sh010"))
        engine.load(support.setup(ref, shot="sh020", prompt="a red car at night"))
    finally:
        engine.close()
    assert store.reads == 1


def test_a_tar_that_is_no_model_is_refused(tmp_path):
    store = support.Store()
    store.objects["models/junk.tar"] = b"not a tar at all"
    engine = support.engine(tmp_path, store)
    with pytest.raises(ValueError, match="store:models/junk.tar is not a readable tar"):
        engine.load(support.setup("store:models/junk.tar"))


def test_an_image_to_video_take_starts_from_the_store_picture_it_names(image_to_video, tmp_path):
    store = support.Store()
    store.objects["refs/red.png"], store.objects["refs/blue.png"] = png((220, 30, 20)), png((20, 40, 220))
    engine = support.engine(tmp_path, store)
    try:
        red = frames(engine, support.setup(image_to_video, image="store:refs/red.png", seed=2))
        blue = frames(engine, support.setup(image_to_video, image="store:refs/blue.png", seed=2))
        red_again = frames(engine, support.setup(image_to_video, image="store:refs/red.png", seed=2, shot="sh030"))
    finally:
        engine.close()
    assert red[0].attributes["imageDigest"] == hashlib.sha256(store.objects["refs/red.png"]).hexdigest()
    assert red[0].attributes["pipeline"] == "WanImageToVideoPipeline"
    # The picture reaches the model: another picture, another clip; the same one, the same clip.
    assert not np.array_equal(pixels(red), pixels(blue))
    assert np.array_equal(pixels(red), pixels(red_again))


def test_a_farm_frame_in_the_store_conditions_a_take_as_the_sdr_view_shows_it(image_to_video, text_to_video, tmp_path):
    from fractions import Fraction

    from pipelines.exr import encode_frame, timecode

    rendered = frames(support.engine(tmp_path / "t2v"), support.setup(text_to_video, seed=9), count=1)[0]
    store = support.Store()
    store.objects["seq/sh010/1001.exr"] = encode_frame(rendered.pixels, fps=Fraction(24), timecode=timecode(0, Fraction(24)), attributes={})
    engine = support.engine(tmp_path / "i2v", store)
    try:
        take = frames(engine, support.setup(image_to_video, image="store:seq/sh010/1001.exr"), count=5)
    finally:
        engine.close()
    assert take[0].attributes["image"] == "store:seq/sh010/1001.exr" and len(take) == 5


def test_first_and_last_picture_models_need_both(image_to_video, tmp_path):
    from tests.pipelines.render.diffusion.conftest import _builder

    last_frame = _builder().build(tmp_path / "flf", last_frame=True)
    store = support.Store()
    store.objects["a.png"], store.objects["b.png"] = png((200, 20, 20)), png((20, 20, 200))
    engine = support.engine(tmp_path / "node", store)
    try:
        with pytest.raises(ValueError, match="needs engine.options.last_image too"):
            engine.load(support.setup(last_frame, image="store:a.png"))
        both = frames(engine, support.setup(last_frame, image="store:a.png", last_image="store:b.png"))
        with pytest.raises(ValueError, match="takes no engine.options.last_image"):
            engine.load(support.setup(image_to_video, image="store:a.png", last_image="store:b.png"))
    finally:
        engine.close()
    assert both[0].attributes["lastImageDigest"] == hashlib.sha256(store.objects["b.png"]).hexdigest()


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"image": "store:refs/red.png"}, "takes no conditioning image"),
    ],
)
def test_conditioning_a_text_to_video_model_is_refused(text_to_video, engine, options, named):
    with pytest.raises(ValueError, match=named):
        engine.load(support.setup(text_to_video, **options))


def test_an_image_to_video_model_without_a_picture_is_refused(image_to_video, engine):
    with pytest.raises(ValueError, match="needs engine.options.image"):
        engine.load(support.setup(image_to_video))
