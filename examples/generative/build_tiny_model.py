"""Build a tiny Wan model folder with random weights: the plumbing of a generated shot, not a picture.

    .venv/bin/python examples/generative/build_tiny_model.py OUT_FOLDER [--image-to-video | --last-frame]

Everything is made here, offline: a word-level tokenizer over a few dozen
words, a one-layer UMT5 text encoder, a Wan transformer of two layers and
two heads and a small Wan VAE (about 0.1 M parameters in all), saved with
`save_pretrained` so the diffusion engine loads it exactly as it loads a
real Wan 2.1 checkout. `--image-to-video` adds a tiny CLIP image encoder
and builds a transformer that starts the clip from a picture;
`--last-frame` one that also ends it on another (Wan 2.1 FLF2V).
The same arguments always give the same files (every random init is seeded).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

WORDS = (
    "a the of and in on at with to from dusk dawn night day light dark red blue green gold grey "
    "street city rain sea sky forest room window door car train figure face hand walks runs looks "
    "slow fast wide close camera pan tilt push pull"
).split()
TEXT_DIM = 32
MAX_TOKENS = 16


def tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<pad>", "</s>", "<unk>", *WORDS])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=MAX_TOKENS
    )


def build(folder: Path, *, image_to_video: bool = False, last_frame: bool = False) -> Path:
    """Write the model folder and return it (`last_frame` implies image-to-video)."""
    import torch
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline, WanPipeline, WanTransformer3DModel
    from transformers import CLIPImageProcessorPil, CLIPVisionConfig, CLIPVisionModel, UMT5Config, UMT5EncoderModel

    image_to_video = image_to_video or last_frame
    tok = tokenizer()
    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(
        UMT5Config(vocab_size=len(tok), d_model=TEXT_DIM, d_kv=8, d_ff=32, num_layers=1, num_heads=2, relative_attention_num_buckets=8)
    )
    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])
    scheduler = FlowMatchEulerDiscreteScheduler(shift=7.0)
    extra: dict = {}
    if image_to_video:
        torch.manual_seed(0)
        vision = CLIPVisionConfig(hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2, image_size=32, intermediate_size=16, patch_size=8)
        clip_tokens = (vision.image_size // vision.patch_size) ** 2 + 1
        extra = {
            "image_encoder": CLIPVisionModel(vision),
            "image_processor": CLIPImageProcessorPil(crop_size=32, size=32),
        }
        transformer_extra = {"in_channels": 36, "image_dim": vision.hidden_size}
        if last_frame:  # Wan 2.1 FLF2V: the first and the last picture's tokens side by side
            transformer_extra["pos_embed_seq_len"] = 2 * clip_tokens
    else:
        transformer_extra = {"in_channels": 16}
    torch.manual_seed(0)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, out_channels=16, text_dim=TEXT_DIM,
        freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
        **transformer_extra,
    )
    kind = WanImageToVideoPipeline if image_to_video else WanPipeline
    pipe = kind(tokenizer=tok, text_encoder=text_encoder, vae=vae, scheduler=scheduler, transformer=transformer, **extra)
    folder.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(folder)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--image-to-video", action="store_true", help="Start the clip from a picture.")
    parser.add_argument("--last-frame", action="store_true", help="With --image-to-video: end it on another picture too.")
    args = parser.parse_args(argv)
    print(build(args.folder, image_to_video=args.image_to_video, last_frame=args.last_frame))
    return 0


if __name__ == "__main__":
    sys.exit(main())
