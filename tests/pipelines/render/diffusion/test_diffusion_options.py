"""A generated shot's options are checked before any model loads, each bad one named as the spec names it."""

from __future__ import annotations

import pytest

from pipelines.chunking import plan_chunks
from pipelines.render.engines.diffusion import INFO
from pipelines.render.engines.diffusion.options import generated_size, options_of
from pipelines.spec.sequence import Sequence
from tests.pipelines.render.diffusion import support
from tests.pipelines.render.diffusion.conftest import ROOT


def test_defaults_come_from_the_sequence():
    o = options_of(support.setup("/models/wan", resolution=(320, 180)))
    assert (o.width, o.height, o.seed, o.steps, o.guidance, o.negative_prompt) == (320, 176, 0, 2, 5.0, "")


@pytest.mark.parametrize(
    ("resolution", "size"), [((32, 32), (32, 32)), ((1920, 1080), (1920, 1088)), ((8, 8), (16, 16)), ((1280, 720), (1280, 720))]
)
def test_wan_generates_at_the_sequence_size_rounded_to_multiples_of_16(resolution, size):
    assert generated_size(resolution) == size


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"width": 40}, "engine.options.width: Input should be a multiple of 16"),
        ({"height": 0}, "engine.options.height"),
        ({"steps": 0}, "engine.options.steps"),
        ({"steps": 10_000}, "engine.options.steps"),
        ({"guidance": -1.0}, "engine.options.guidance"),
        ({"seed": -3}, "engine.options.seed"),
        ({"prompt": ""}, "engine.options.prompt"),
        ({"steps": "many"}, "engine.options.steps"),
        ({"image": "/local/picture.png"}, "engine.options.image: a conditioning image is 'previous' or read from the farm's store"),
        ({"last_image": "refs/b.png"}, "engine.options.last_image"),
        ({"frames": 81}, "engine.options.frames: unknown option; the engine reads model, prompt"),
    ],
)
def test_a_bad_option_is_named(options, named):
    with pytest.raises(ValueError, match=named.replace(".", r"\.").replace("(", r"\(")):
        options_of(support.setup("/models/wan", **options))


def test_a_shot_without_a_prompt_or_model_is_told_both_are_required():
    setup = support.setup("/models/wan").model_copy(update={"options": {"steps": 2}})
    with pytest.raises(ValueError, match=r"engine\.options\.model: required; engine\.options\.prompt: required"):
        options_of(setup)


def test_whole_numbers_for_guidance_are_numbers():
    assert options_of(support.setup("/models/wan", guidance=7)).guidance == 7.0


def test_the_engine_is_declared_without_loading_its_runtime():
    assert INFO.name == "diffusion" and INFO.why_unusable() is None  # the generative extra is installed here
    assert "engine.options" in INFO.reads


def test_a_generated_shot_is_planned_as_one_chunk_beside_rendered_shots_in_chunks():
    seq = Sequence.model_validate(
        {
            "show": "demo", "sequence": "gen", "resolution": [32, 32],
            "scenes": {"set": support.SET.model_dump(mode="json")},
            "shots": [
                {"name": "sh010", "scene": "set", "frames": {"first": 1001, "last": 1024},
                 "camera": {"keys": [{"frame": 0, "position": [0, 1, 5], "look_at": [0, 1, 0], "fov": 40}]}},
                {"name": "sh020", "scene": "set", "frames": {"first": 1025, "last": 1048}, "handles": 2,
                 "engine": {"name": "diffusion", "options": {"model": "/models/wan", "prompt": "rain"}}},
            ],
        }
    )
    chunks = plan_chunks(seq, chunk_frames=8)
    assert [c.chunk_id for c in chunks if c.shot == "sh020"] == ["sh020.1023-1050"]
    assert len([c for c in chunks if c.shot == "sh010"]) == 3


def test_a_bad_generated_shot_is_a_spec_error_naming_the_shot_and_the_option(tmp_path):
    import yaml

    from pipelines.spec.errors import SpecError
    from pipelines.spec.loading import load_sequence

    example = yaml.safe_load((ROOT / "examples" / "generative" / "sequence.yaml").read_text())
    example["shots"][1]["engine"]["options"] |= {"width": 100, "steps": 0}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(example))
    with pytest.raises(SpecError, match=r"shot sh020 is generated: engine\.options\.steps: .*engine\.options\.width: Input should be a multiple of 16"):
        load_sequence(path)


def test_the_generative_example_is_a_valid_spec():
    from pipelines.spec.loading import load_sequence

    seq = load_sequence(ROOT / "examples" / "generative" / "sequence.yaml")
    assert seq.engines() == ("pathtracer", "diffusion")


def test_shotfarm_validate_refuses_a_bad_generated_shot_with_exit_code_2(tmp_path):
    import subprocess
    import sys

    text = (ROOT / "examples" / "generative" / "sequence.yaml").read_text().replace("steps: 4", "steps: 0")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator.interfaces.cli", "validate", str(path)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "shot sh020 is generated: engine.options.steps" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
