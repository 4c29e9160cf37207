"""Files in the official SpikeCLIP code's formats, written from our reference model (issue 14).

The official scripts save each encoder with timm's ``CheckpointSaver``: ``torch.save`` of a dict with ``epoch``,
``arch``, ``state_dict`` (keys prefixed ``module.`` when the model was wrapped in DistributedDataParallel),
``optimizer``, ``version``, ``metric`` and, when the saver was given them, ``args`` (an ``argparse.Namespace``). BatchNorm
layers carry ``num_batches_tracked``; the text encoder's CLIP embeddings carry ``position_ids``. ``write_official``
writes those layouts (and bare state dicts, and safetensors) for the vision and text encoders of a ``SpikeCLIP``.

``python -m spikeclip_training.official_fixtures --out DIR`` writes, for trying the importer and the explorer at the
official size: ``DIR/vision.pth.tar`` and ``DIR/text.pth.tar`` (random weights, official sizes: 3x32x32, D 384, 8 heads,
depth 4, T 4, target 512; CLIP text embeddings 49408 x 512, L 20, hidden 2048; BatchNorm statistics calibrated so that
every layer fires) and ``DIR/clip/`` (a random-weight Hugging Face ``CLIPModel``: image 224, patch 16, projection 512,
CLIP's real vocabulary; smaller widths than ViT-B/16 so that it stays quick on a laptop). Then:

    python -m spikeclip_training.convert_official --vision DIR/vision.pth.tar --text DIR/text.pth.tar \\
        --clip DIR/clip --out DIR/spikeclip.safetensors

``python -m spikeclip_training.official_fixtures --bench-checkpoint FILE`` writes instead one checkpoint in our own
format at the official size with an ANN twin of the same size (random, calibrated as above), for
``spikeclip bench --checkpoint FILE`` (issue 15).
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .config import AnnVisionConfig, LIFConfig, SpikeCLIPConfig, TextConfig, TextEmbeddingConfig, VisionConfig
from .convert_official import CIFAR10_CLASSES, CLIP_VOCAB_SIZE, clip_then_resize_config, clip_tokenizer_config
from .model import SpikeCLIP

VARIANTS = ("timm", "timm-ddp-args", "bare", "safetensors")


def official_state_dicts(model: SpikeCLIP) -> tuple[dict, dict]:
    """The ``Vision_Encoder`` and ``Language_Encoder`` state dicts of ``model`` as the official code holds them
    (``num_batches_tracked`` buffers; ``clip_embedding.position_ids``)."""
    vision = collections.OrderedDict((k, v.detach().clone()) for k, v in model.vision.state_dict().items())
    for k in [k for k in vision if k.endswith(".running_mean")]:
        vision.setdefault(k[: -len("running_mean")] + "num_batches_tracked", torch.tensor(1000, dtype=torch.int64))
    text = collections.OrderedDict((k, v.detach().clone()) for k, v in model.text.state_dict().items())
    p = model.config.text.embedding.max_position_embeddings
    text["clip_embedding.position_ids"] = torch.arange(p, dtype=torch.int64).unsqueeze(0)
    return vision, text


def timm_checkpoint(state: dict, arch: str, epoch: int, ddp: bool = False, args: Optional[dict] = None) -> dict:
    """A dict laid out as timm's ``CheckpointSaver`` saves it."""
    sd = collections.OrderedDict((("module." + k) if ddp else k, v) for k, v in state.items())
    out = {"epoch": epoch, "arch": arch, "state_dict": sd,
           "optimizer": {"state": {}, "param_groups": [{"lr": 5e-5, "betas": (0.9, 0.999), "eps": 1e-8,
                                                        "weight_decay": 0.0, "amsgrad": False, "params": [0, 1]}]},
           "version": 2, "metric": 0.5}
    if args is not None:
        out["args"] = argparse.Namespace(**args)
    return out


def official_args(cfg: SpikeCLIPConfig) -> dict:
    """The ``argparse`` values the official alignment script would have saved for ``cfg``."""
    v = cfg.vision
    return {"device": "cuda:0", "seed": 42, "clip_name": "openai/clip-vit-base-patch16", "clip_dim": cfg.text.target_dim,
            "embed_dims": v.embed_dims, "in_channels": v.in_channels, "num_heads": v.num_heads,
            "mlp_ratios": int(v.mlp_ratios), "depths": v.depths, "T": cfg.T, "lr": 5e-5, "betas": (0.9, 0.999),
            "dataset": "CIFAR10", "batchsize": 4}


def write_official(model: SpikeCLIP, out: Path, variant: str = "timm") -> tuple[Path, Path]:
    """Write ``out/vision.*`` and ``out/text.*`` for ``model`` in ``variant`` (``VARIANTS``): ``timm`` (saver
    layout, no args), ``timm-ddp-args`` (``module.`` prefixes and saved args), ``bare`` (state dicts, ``.pth``),
    ``safetensors``. Returns the two paths."""
    out.mkdir(parents=True, exist_ok=True)
    vision, text = official_state_dicts(model)
    if variant == "safetensors":
        from safetensors.torch import save_file
        vp, tp = out / "vision.safetensors", out / "text.safetensors"
        save_file({k: v.contiguous() for k, v in vision.items()}, str(vp))
        save_file({k: v.contiguous() for k, v in text.items()}, str(tp))
        return vp, tp
    if variant == "bare":
        vp, tp = out / "vision.pth", out / "text.pth"
        torch.save(vision, vp)
        torch.save(text, tp)
        return vp, tp
    if variant not in VARIANTS:
        raise ValueError(f"variant {variant!r} is not one of {VARIANTS}")
    ddp = variant == "timm-ddp-args"
    args = official_args(model.config) if ddp else None
    vp, tp = out / "vision.pth.tar", out / "text.pth.tar"
    torch.save(timm_checkpoint(vision, "Vision_Encoder", 12, ddp, args), vp)
    torch.save(timm_checkpoint(text, "Language_Encoder", 1999, ddp, args), tp)
    return vp, tp


def official_size_config() -> SpikeCLIPConfig:
    """The sizes of the official scripts (SPEC 1.6)."""
    vision = VisionConfig(in_channels=3, image_size=[32, 32], embed_dims=384, num_heads=8, mlp_ratios=4, depths=4,
                          target_dim=512)
    text = TextConfig(context_length=20, embed_dim=512, hidden_dim=2048, target_dim=512,
                      embedding=TextEmbeddingConfig(kind="clip", vocab_size=CLIP_VOCAB_SIZE, max_position_embeddings=77))
    return SpikeCLIPConfig(T=4, lif=LIFConfig(), batch_norm_eps=1e-5, vision=vision, ann_vision=None, text=text,
                           logit_scale=1.0, preprocess=clip_then_resize_config([32, 32]),
                           tokenizer=clip_tokenizer_config(20), classes=list(CIFAR10_CLASSES),
                           templates=["a photo of a {}."], ann_text=None, provenance={"kind": "random-official-size"})


def random_model(cfg: SpikeCLIPConfig, seed: int = 0) -> SpikeCLIP:
    """``cfg`` with random weights whose BatchNorm statistics and text ``fc1`` are calibrated on random inputs, so
    that every layer fires at a moderate rate (the golden fixtures' recipe), in float32."""
    from .fixtures import calibrate_batch_norm, calibrate_text_fc1, init_weights, make_inputs
    rng = np.random.default_rng(seed)
    pixels, ids = make_inputs(cfg, rng)
    model = SpikeCLIP(cfg).double()
    init_weights(model, rng)
    calibrate_batch_norm(model.vision, lambda: model.vision(pixels))
    calibrate_text_fc1(model, ids, rng)
    return model.float().eval()


CLIP_DEMO_SPEC = dict(
    dtype="float32",
    vision=dict(image_size=224, patch_size=16, hidden_size=192, intermediate_size=768, num_hidden_layers=4,
                num_attention_heads=3, hidden_act="quick_gelu"),
    text=dict(vocab_size=CLIP_VOCAB_SIZE, hidden_size=128, intermediate_size=512, num_hidden_layers=4,
              num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
              bos_token_id=49406, eos_token_id=49407, pad_token_id=49407),
    projection_dim=512)


def write_clip_folder(out: Path, seed: int = 0, spec: Optional[dict] = None) -> Path:
    """A random-weight Hugging Face ``CLIPModel`` folder with CLIP's real vocabulary and processor settings."""
    import json
    from .clip_fixtures import _clip_model, write_hf_files
    model = _clip_model(spec or CLIP_DEMO_SPEC, seed)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    write_hf_files(out)
    (out / "preprocessor_config.json").write_text(json.dumps({
        "crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_convert_rgb": True,
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_processor_type": "CLIPImageProcessor", "image_std": [0.26862954, 0.26130258, 0.27577711],
        "resample": 3, "rescale_factor": 1 / 255, "size": {"shortest_edge": 224}}, indent=2), encoding="utf-8")
    return out


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spikeclip_training.official_fixtures", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="output folder")
    ap.add_argument("--bench-checkpoint", type=Path, help="write one official-size checkpoint with an ANN twin here instead")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variant", choices=VARIANTS, default="timm")
    a = ap.parse_args(argv)
    torch.manual_seed(a.seed)
    if a.bench_checkpoint:
        import dataclasses
        from .export import save_checkpoint
        cfg = official_size_config()
        v = cfg.vision
        cfg = dataclasses.replace(cfg, ann_vision=AnnVisionConfig(embed_dims=v.embed_dims, num_heads=v.num_heads,
                                                                 mlp_ratios=v.mlp_ratios, depths=v.depths,
                                                                 target_dim=v.target_dim, layer_norm_eps=1e-5),
                                  provenance={"kind": "random-official-size", "seed": a.seed, "purpose": "bench"})
        save_checkpoint(random_model(cfg, a.seed), cfg, a.bench_checkpoint)
        print(f"wrote {a.bench_checkpoint}: official size (3x32x32, D 384, 8 heads, depth 4, T 4) with an ANN twin")
        return 0
    if a.out is None:
        ap.error("--out or --bench-checkpoint is required")
    model = random_model(official_size_config(), a.seed)
    vp, tp = write_official(model, a.out, a.variant)
    clip = write_clip_folder(a.out / "clip", a.seed)
    print(f"wrote {vp}, {tp} and {clip}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
