"""Build a tiny Wan model folder with random weights: the plumbing of a generated shot, not a picture.

    .venv/bin/python examples/generative/build_tiny_model.py OUT_FOLDER [--image-to-video | --last-frame | --conditioned]

Everything is made here, offline: a word-level tokenizer over a few dozen
words, a one-layer UMT5 text encoder, a Wan transformer of two layers and
two heads and a small Wan VAE (about 0.1 M parameters in all), saved with
`save_pretrained` so the diffusion engine loads it exactly as it loads a
real Wan 2.1 checkout. `--image-to-video` adds a tiny CLIP image encoder
and builds a transformer that starts the clip from a picture;
`--last-frame` one that also ends it on another (Wan 2.1 FLF2V).
The same arguments always give the same files (every random init is seeded).

`--conditioned` builds a model whose conditioning picture shows in the
clip, so that a test can see it: one model for text- and image-to-video in
the Wan 2.2 TI2V layout (a `WanPipeline` folder with `expand_timesteps`,
no image encoder), where the picture's VAE encoding is the clip's first
latent frame, kept through denoising, and the causal VAE decodes the first
frame from that latent alone. A random VAE would not give the picture
back, so this one is set, not drawn: its encoder averages each 8x8 block
of the picture into the latent and its decoder spreads the block means back
with a binomial filter at each doubling. The transformer is still random,
so every frame after the first is still noise.
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
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=MAX_TOKENS)


OFFSET = 20.0
"""Added to the colour channels inside the VAE, where SiLU is the identity to within 1e-7."""
CARRIER = 1e4
"""A constant channel that dominates each RMS norm, so the norm divides every pixel by the same number."""
BINOMIAL = ((1.0, 2.0, 1.0), (2.0, 4.0, 2.0), (1.0, 2.0, 1.0))


def autoencoding_vae():
    """A Wan VAE (the 2.1 design, 8 channels wide) that gives a picture back, blurred to its 8x8 block means.

    Every convolution passes the three colour channels and the constant
    carrier through; the residual and attention branches are zero, so each
    block is its shortcut. Down, a 2x2 mean; up, nearest then the binomial
    filter, which the carrier's own attenuation at the border normalises
    (the output norm divides by it). Later latent frames decode the same way,
    four frames each; the first frame is the first latent's alone.
    """
    import torch
    from diffusers import AutoencoderKLWan
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanResample, WanResidualBlock

    width, z_dim = 8, 16
    vae = AutoencoderKLWan(
        base_dim=width,
        z_dim=z_dim,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.0] * z_dim,
        latents_std=[0.5] * z_dim,  # the block means of pictures in [-1, 1]
    )
    colour, carried = range(3), range(4)  # the carrier is channel 3
    norm_gain = (3 * OFFSET**2 + CARRIER**2) ** 0.5 / width**0.5  # undoes the norm for a grey pixel, to within 1e-6
    binomial = torch.tensor(BINOMIAL) / 16.0
    with torch.no_grad():
        for p in vae.parameters():
            p.zero_()
        for conv in (vae.encoder.conv_in, vae.decoder.conv_in):  # causal: the frame itself is the last time tap
            for c in colour:
                conv.weight[c, c, 2, 1, 1] = 1.0
                conv.bias[c] = OFFSET
            conv.bias[3] = CARRIER
        for coder in (vae.encoder, vae.decoder):
            for c in colour:
                coder.norm_out.gamma[c] = norm_gain
                coder.conv_out.weight[c, c, 2, 1, 1] = 1.0
                coder.conv_out.bias[c] = -OFFSET
        for conv in (vae.quant_conv, vae.post_quant_conv):
            for c in range(conv.out_channels):
                conv.weight[c, c, 0, 0, 0] = 1.0
        for m in vae.modules():
            if isinstance(m, WanResidualBlock) and isinstance(m.conv_shortcut, torch.nn.Conv3d):
                for c in carried:
                    m.conv_shortcut.weight[c, c, 0, 0, 0] = 1.0
            elif isinstance(m, WanResample) and m.mode.startswith("downsample"):
                for c in carried:
                    m.resample[1].weight[c, c, :2, :2] = 0.25
                    if m.mode == "downsample3d":  # later frames: the mean of each pair
                        m.time_conv.weight[c, c, 1:, 0, 0] = 0.5
            elif isinstance(m, WanResample) and m.mode.startswith("upsample"):
                for c in carried:
                    m.resample[1].weight[c, c] = binomial
                    if m.mode == "upsample3d":  # later frames: each latent frame twice
                        m.time_conv.weight[c, c, 2, 0, 0] = 1.0
                        m.time_conv.weight[width + c, c, 2, 0, 0] = 1.0
    return vae


def build(folder: Path, *, image_to_video: bool = False, last_frame: bool = False, conditioned: bool = False) -> Path:
    """Write the model folder and return it (`last_frame` implies image-to-video; `conditioned` is Wan 2.2 TI2V)."""
    if conditioned and (image_to_video or last_frame):
        raise ValueError("--conditioned is its own kind of model: text- and image-to-video in one, with no image encoder")
    import torch
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline, WanPipeline, WanTransformer3DModel
    from transformers import CLIPImageProcessorPil, CLIPVisionConfig, CLIPVisionModel, UMT5Config, UMT5EncoderModel

    image_to_video = image_to_video or last_frame
    tok = tokenizer()
    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(tok), d_model=TEXT_DIM, d_kv=8, d_ff=32, num_layers=1, num_heads=2, relative_attention_num_buckets=8))
    torch.manual_seed(0)
    if conditioned:
        vae = autoencoding_vae()
    else:
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
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        out_channels=16,
        text_dim=TEXT_DIM,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
        **transformer_extra,
    )
    if conditioned:  # Wan 2.2 TI2V: the image is the first latent frame, the transformer told so by per-token timesteps
        extra = {"expand_timesteps": True}
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
    parser.add_argument("--conditioned", action="store_true", help="Text- and image-to-video in one (Wan 2.2 TI2V), the picture kept as the first frame.")
    args = parser.parse_args(argv)
    try:
        print(build(args.folder, image_to_video=args.image_to_video, last_frame=args.last_frame, conditioned=args.conditioned))
    except ValueError as e:
        parser.error(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
