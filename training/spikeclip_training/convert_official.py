"""Convert the files the official SpikeCLIP code writes into one SpikeCLIP checkpoint (issue 14).

    python -m spikeclip_training.convert_official --vision VISION.pth.tar --text TEXT.pth.tar \\
        [--clip CLIP_DIR] --out OUT.safetensors [--classes FILE] [--templates FILE]

``--vision`` is the spiking image encoder's file (``Vision_Encoder``), ``--text`` the spiking text encoder's
(``Language_Encoder``): timm ``CheckpointSaver`` files, bare state dicts (``.pth``, ``.bin``) or safetensors, read by
``official_io.load_state_dict`` (no code from the file ever runs). Every size comes from the tensors: D, the input
channels, depth, MLP ratio, T (``weights_tensor``), target width, E, L (``fc1`` reads L*E), hidden width and the
vocabulary. Two sizes are not in the tensors: the head count (``args.num_heads`` when the file saved its args, else
``--num-heads``, else 8, the official scripts' value) and the input size (``--image-size``, default 32, the official
``F.interpolate`` target). Anything that does not fit is refused with one line naming the file and the key.

The checkpoint it writes (docs/CHECKPOINT.md): tensors ``vision.<official key>`` and ``text.<official key>``, no ANN
twin (``ann_vision`` null: an official run's ANN side is CLIP), tokenizer ``clip-bpe`` (the vocabulary of
``--clip``, else CLIP's own file from ``assets/clip``, named with its sha256), the CLIP text embedding kind,
preprocessing ``clip-then-resize`` (CLIP's processor settings from ``--clip`` when it has them), ``ann_text`` = the CLIP
folder with the sha256 of its ``model.safetensors`` (its text tower scores the ANN text side and, since there is no
twin, its vision tower the ANN image side), default classes and templates (CIFAR-10's names and "a photo of a {}."
unless ``--classes`` / ``--templates`` name files with one per line). The output is written atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import unicodedata
from pathlib import Path
from typing import Optional

import torch

from . import st_io
from .st_io import sha256_file
from .config import (LIFConfig, PreprocessConfig, SpikeCLIPConfig, TextConfig, TextEmbeddingConfig,
                     TokenizerConfig, VisionConfig, AnnTextRef)
from .official_io import OfficialFileError, load_state_dict

REPO = Path(__file__).resolve().parents[2]
ASSET_VOCAB = "clip/bpe_simple_vocab_16e6.txt.gz"          # relative to the assets folder (docs/CHECKPOINT.md)
CLIP_VOCAB_SIZE = 49408
CLIP_START, CLIP_END = 49406, 49407                        # <|startoftext|>, <|endoftext|> (also the pad token)
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
OFFICIAL_NUM_HEADS = 8
OFFICIAL_IMAGE_SIZE = 32
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
DEFAULT_TEMPLATES = ["a photo of a {}."]
MAX_SIZE = 1 << 20                                         # the limit every config size obeys (CHECKPOINT.md)
MAX_LIST = 10000                                           # lines of --classes / --templates
MAX_LINE = 300                                             # characters per line


class ConvertError(ValueError):
    """The inputs cannot be converted; the message is one line naming the file (and the key)."""


def clip_then_resize_config(image_size, shortest_edge: int = 224, crop_size: int = 224, mean=None, std=None
                            ) -> PreprocessConfig:
    """The official input: ``CLIPImageProcessor`` (short side, center crop, mean/std), then bilinear to
    ``image_size`` ``[H, W]`` (``F.interpolate(align_corners=False)``)."""
    return PreprocessConfig(kind="clip-then-resize", image_size=list(image_size), channels=3,
                            mean=list(mean or CLIP_MEAN), std=list(std or CLIP_STD),
                            clip_shortest_edge=shortest_edge, clip_crop_size=crop_size)


def clip_tokenizer_config(context_length: int, vocab_file: str = ASSET_VOCAB, vocab_sha256: Optional[str] = None,
                          pad_id: int = CLIP_END, cls_id: int = CLIP_START, sep_id: int = CLIP_END) -> TokenizerConfig:
    """CLIP BPE at SpikeCLIP's ``L`` (official padding with ``<|endoftext|>``); by default CLIP's own vocabulary
    file from the assets, named with its sha256."""
    if vocab_sha256 is None and vocab_file == ASSET_VOCAB:
        vocab_sha256 = sha256_file(REPO / "assets" / ASSET_VOCAB)
    return TokenizerConfig(kind="clip-bpe", vocab_file=vocab_file, vocab_sha256=vocab_sha256,
                           context_length=context_length, pad_id=pad_id, cls_id=cls_id, sep_id=sep_id)


# ----------------------------------------------------------------------------- size inference

def _shape(sd: dict, key: str, path: Path, dims: int) -> list[int]:
    if key not in sd:
        raise ConvertError(f"{path}: missing tensor '{key}' (is this the right file for this option?)")
    shape = list(sd[key].shape)
    if len(shape) != dims:
        raise ConvertError(f"{path}: '{key}' has shape {shape}, expected {dims} dimensions")
    if any(s <= 0 or s > MAX_SIZE for s in shape):
        raise ConvertError(f"{path}: '{key}' has shape {shape}: sizes must be in 1..{MAX_SIZE}")
    return shape


def _steps(sd: dict, path: Path) -> int:
    s = _shape(sd, "weights_tensor", path, 3)
    if s[0] != 1 or s[2] != 1:
        raise ConvertError(f"{path}: 'weights_tensor' has shape {s}, expected [1, T, 1]")
    return s[1]


def _arg(args: Optional[dict], name: str, path: Path) -> Optional[int]:
    if not args or name not in args:
        return None
    v = args[name]
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_SIZE:
        raise ConvertError(f"{path}: saved args.{name} = {str(v)[:40]!r} is not a size")
    return v


def infer_vision(sd: dict, args: Optional[dict], path: Path, num_heads: Optional[int] = None,
                 image_size: Optional[int] = None) -> tuple[VisionConfig, int, str]:
    """``(VisionConfig, T, where the head count came from)`` from a ``Vision_Encoder`` state dict."""
    c0 = _shape(sd, "patch_embed.block0_conv.weight", path, 4)
    d = _shape(sd, "patch_embed.block4_conv.weight", path, 4)[0]
    target = _shape(sd, "proj.weight", path, 2)[0]
    depth = 0
    while any(k.startswith(f"block.{depth}.") for k in sd):
        depth += 1
    ratio = 4.0
    if depth:
        hidden = _shape(sd, "block.0.mlp.mlp1_conv.weight", path, 4)[0]
        ratio = hidden / d
        ratio = int(ratio) if ratio == int(ratio) else ratio
    saved = _arg(args, "num_heads", path)
    if num_heads is not None:
        heads, source = num_heads, "--num-heads"
    elif saved is not None:
        heads, source = saved, "the file's saved args"
    else:
        heads, source = OFFICIAL_NUM_HEADS, "the official scripts' default (not stored in the file; --num-heads sets it)"
    if d % 8 or d % heads:
        raise ConvertError(f"{path}: width D = {d} (from 'patch_embed.block4_conv.weight') must be divisible by 8 and "
                           f"by the head count {heads} ({source})")
    size = image_size or OFFICIAL_IMAGE_SIZE
    if size % 4:
        raise ConvertError(f"--image-size {size} must be a multiple of 4")
    for name, want in (("embed_dims", d), ("depths", depth), ("in_channels", c0[1])):
        got = _arg(args, name, path)
        if got is not None and got != want:
            raise ConvertError(f"{path}: saved args.{name} = {got} but the tensors say {want}")
    cfg = VisionConfig(in_channels=c0[1], image_size=[size, size], embed_dims=d, num_heads=heads,
                       mlp_ratios=ratio, depths=depth, target_dim=target)
    return cfg, _steps(sd, path), source


def infer_text(sd: dict, path: Path) -> tuple[TextConfig, int]:
    """``(TextConfig, T)`` from a ``Language_Encoder`` state dict (CLIP text embeddings under ``clip_embedding``)."""
    if "clip_embedding.word_embeddings.weight" in sd:
        raise ConvertError(f"{path}: 'clip_embedding.word_embeddings.weight' is a BERT embedding; the official text "
                           "encoder holds CLIP's ('clip_embedding.token_embedding.weight')")
    v, e = _shape(sd, "clip_embedding.token_embedding.weight", path, 2)
    p, e2 = _shape(sd, "clip_embedding.position_embedding.weight", path, 2)
    if e2 != e:
        raise ConvertError(f"{path}: 'clip_embedding.position_embedding.weight' has width {e2}, the token embedding {e}")
    hidden, fan_in = _shape(sd, "fc1.weight", path, 2)
    if fan_in % e:
        raise ConvertError(f"{path}: 'fc1.weight' reads {fan_in} inputs, not a multiple of the embedding width {e}")
    length = fan_in // e
    if length > p:
        raise ConvertError(f"{path}: 'fc1.weight' reads L = {length} tokens but there are only {p} positions")
    target, hidden2 = _shape(sd, "fc2.weight", path, 2)
    if hidden2 != hidden:
        raise ConvertError(f"{path}: 'fc2.weight' reads {hidden2} inputs, 'fc1.weight' gives {hidden}")
    emb = TextEmbeddingConfig(kind="clip", vocab_size=v, max_position_embeddings=p)
    return TextConfig(context_length=length, embed_dim=e, hidden_dim=hidden, target_dim=target, embedding=emb), _steps(sd, path)


# ----------------------------------------------------------------------------- the CLIP folder

def _json(path: Path) -> dict:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConvertError(f"{path}: not readable JSON ({type(e).__name__})") from None
    if not isinstance(d, dict):
        raise ConvertError(f"{path}: not a JSON object")
    return d


def read_clip_folder(folder: Path) -> dict:
    """What the checkpoint records about a Hugging Face ``CLIPModel`` folder: special-token ids, projection width,
    vision image size, the processor's settings, the weights' sha256. Raises ``ConvertError``."""
    if not folder.is_dir():
        raise ConvertError(f"--clip {folder}: not a folder")
    for name in ("config.json", "model.safetensors", "vocab.json", "merges.txt"):
        if not (folder / name).is_file():
            hint = " (save the model with safe_serialization=True)" if name == "model.safetensors" else ""
            raise ConvertError(f"--clip {folder}: no {name}; a Hugging Face CLIPModel folder has config.json, "
                               f"model.safetensors, vocab.json and merges.txt{hint}")
    cfg = _json(folder / "config.json")
    vocab = _json(folder / "vocab.json")
    text_cfg, vision_cfg = cfg.get("text_config") or {}, cfg.get("vision_config") or {}
    if not isinstance(text_cfg, dict) or not isinstance(vision_cfg, dict):
        raise ConvertError(f"{folder / 'config.json'}: text_config / vision_config are not objects")
    pad = "<|endoftext|>"
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        if (folder / name).is_file():
            t = _json(folder / name).get("pad_token")
            t = t.get("content") if isinstance(t, dict) else t
            if isinstance(t, str):
                pad = t
                break
    ids = {}
    for role, token in (("cls", "<|startoftext|>"), ("sep", "<|endoftext|>"), ("pad", pad)):
        if not isinstance(vocab.get(token), int):
            raise ConvertError(f"{folder / 'vocab.json'}: no id for {token!r}")
        ids[role] = vocab[token]
    proc = {"shortest_edge": 224, "crop_size": 224, "mean": CLIP_MEAN, "std": CLIP_STD}
    if (folder / "preprocessor_config.json").is_file():
        pc = _json(folder / "preprocessor_config.json")
        size, crop = pc.get("size"), pc.get("crop_size")
        proc["shortest_edge"] = size.get("shortest_edge", 224) if isinstance(size, dict) else (size or 224)
        proc["crop_size"] = crop.get("height", 224) if isinstance(crop, dict) else (crop or 224)
        if isinstance(pc.get("image_mean"), list) and len(pc["image_mean"]) == 3:
            proc["mean"] = [float(x) for x in pc["image_mean"]]
        if isinstance(pc.get("image_std"), list) and len(pc["image_std"]) == 3:
            proc["std"] = [float(x) for x in pc["image_std"]]
        if pc.get("resample", 3) != 3:
            raise ConvertError(f"{folder / 'preprocessor_config.json'}: resample {pc['resample']} is not bicubic (3)")
    image = vision_cfg.get("image_size", 224)
    if image != proc["crop_size"]:
        raise ConvertError(f"--clip {folder}: the processor crops {proc['crop_size']} but the vision tower takes {image}")
    return {"ids": ids, "vocab_size": len(vocab), "projection_dim": cfg.get("projection_dim", 512),
            "processor": proc, "sha256": sha256_file(folder / "model.safetensors")}


# ----------------------------------------------------------------------------- lists

def read_lines(path: Path, what: str) -> list[str]:
    """Non-empty lines of a UTF-8 file (stripped); refuses control characters, overlong lines, empty files."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConvertError(f"{what} {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConvertError(f"{what} {path}: not readable UTF-8 text ({type(e).__name__})") from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in line):
            raise ConvertError(f"{what} {path}:{n}: holds a control character")
        if len(line) > MAX_LINE:
            raise ConvertError(f"{what} {path}:{n}: longer than {MAX_LINE} characters")
        out.append(line)
    if not out:
        raise ConvertError(f"{what} {path}: no entries")
    if len(out) > MAX_LIST:
        raise ConvertError(f"{what} {path}: more than {MAX_LIST} entries")
    return out


# ----------------------------------------------------------------------------- conversion

def _reference_path(folder: Path, out: Path) -> str:
    """How the checkpoint names ``folder``: relative when it sits beside the output or one folder up (where the
    loader looks), else absolute."""
    folder, base = folder.resolve(), out.resolve().parent
    for root in (base, base.parent):
        try:
            return str(folder.relative_to(root))
        except ValueError:
            continue
    return str(folder)


def convert(vision: Path, text: Path, out: Path, clip: Optional[Path] = None, classes: Optional[list[str]] = None,
            templates: Optional[list[str]] = None, num_heads: Optional[int] = None,
            image_size: Optional[int] = None) -> tuple[SpikeCLIPConfig, dict[str, torch.Tensor], list[str]]:
    """``(config, tensors, notes)`` of the checkpoint for the official files ``vision`` and ``text``.

    Raises ``ConvertError`` / ``OfficialFileError`` (one line, naming the file and the key)."""
    from .export import export_state_dict
    from .model import SpikeCLIP

    vsd, vargs = load_state_dict(vision)
    tsd, _ = load_state_dict(text)
    vcfg, vt, heads_source = infer_vision(vsd, vargs, vision, num_heads, image_size)
    tcfg, tt = infer_text(tsd, text)
    if vt != tt:
        raise ConvertError(f"{vision}: T = {vt} time steps ('weights_tensor'), but {text} has T = {tt}")
    if vcfg.target_dim != tcfg.target_dim:
        raise ConvertError(f"{vision}: target width {vcfg.target_dim} ('proj.weight') differs from {text}'s "
                           f"{tcfg.target_dim} ('fc2.weight')")
    if vcfg.in_channels != 3:
        raise ConvertError(f"{vision}: 'patch_embed.block0_conv.weight' reads {vcfg.in_channels} channels; "
                           "CLIP's preprocessing gives 3")
    notes = [f"num_heads {vcfg.num_heads} from {heads_source}"]
    ann_text = None
    if clip is not None:
        info = read_clip_folder(clip)
        if info["vocab_size"] != tcfg.embedding.vocab_size:
            raise ConvertError(f"{text}: 'clip_embedding.token_embedding.weight' has {tcfg.embedding.vocab_size} rows, "
                               f"the vocabulary of --clip {clip} {info['vocab_size']}")
        if info["projection_dim"] != tcfg.target_dim:
            raise ConvertError(f"--clip {clip}: projection_dim {info['projection_dim']} differs from the spiking "
                               f"encoders' target width {tcfg.target_dim}")
        ref = _reference_path(clip, out)
        tok = clip_tokenizer_config(tcfg.context_length, vocab_file=ref, vocab_sha256=None, pad_id=info["ids"]["pad"],
                                    cls_id=info["ids"]["cls"], sep_id=info["ids"]["sep"])
        p = info["processor"]
        pre = clip_then_resize_config(vcfg.image_size, p["shortest_edge"], p["crop_size"], p["mean"], p["std"])
        ann_text = AnnTextRef(file=ref, sha256=info["sha256"])
    else:
        if tcfg.embedding.vocab_size != CLIP_VOCAB_SIZE:
            raise ConvertError(f"{text}: 'clip_embedding.token_embedding.weight' has {tcfg.embedding.vocab_size} rows, "
                               f"CLIP's vocabulary {CLIP_VOCAB_SIZE}; pass --clip with the model it was trained with")
        tok = clip_tokenizer_config(tcfg.context_length)
        pre = clip_then_resize_config(vcfg.image_size)
        notes.append("no --clip: the spiking side only (no ANN side)")
    provenance = {"kind": "official-import", "converter": "spikeclip_training.convert_official",
                  "vision_file": vision.name, "vision_sha256": sha256_file(vision),
                  "text_file": text.name, "text_sha256": sha256_file(text), "num_heads_source": heads_source}
    if vargs:
        provenance["vision_args"] = {k: v for k, v in vargs.items() if isinstance(v, (int, float, str, bool))}
    cfg = SpikeCLIPConfig(T=vt, lif=LIFConfig(), batch_norm_eps=1e-5, vision=vcfg, ann_vision=None, text=tcfg,
                          logit_scale=1.0, preprocess=pre, tokenizer=tok,
                          classes=list(classes or CIFAR10_CLASSES), templates=list(templates or DEFAULT_TEMPLATES),
                          ann_text=ann_text, provenance=provenance)
    try:
        cfg.validate()
    except ValueError as e:
        raise ConvertError(f"{vision}: {e}") from None
    expected = export_state_dict(SpikeCLIP(cfg))
    tensors: dict[str, torch.Tensor] = {}
    for prefix, sd, path in (("vision.", vsd, vision), ("text.", tsd, text)):
        for key, value in sd.items():
            name = prefix + key
            if name not in expected:
                raise ConvertError(f"{path}: unknown tensor '{key[:120]}' (shape {list(value.shape)}); "
                                   "not part of the official encoder")
            if list(value.shape) != list(expected[name].shape):
                raise ConvertError(f"{path}: '{key}' has shape {list(value.shape)}, expected "
                                   f"{list(expected[name].shape)} for the sizes read from the other tensors")
            if not value.is_floating_point():
                raise ConvertError(f"{path}: '{key}' has dtype {value.dtype}, expected floating point")
            if not bool(torch.isfinite(value).all()):
                raise ConvertError(f"{path}: '{key}' holds NaN or infinite values")
            tensors[name] = value
    missing = sorted(set(expected) - set(tensors))
    if missing:
        m = missing[0]
        src = vision if m.startswith("vision.") else text
        raise ConvertError(f"{src}: missing tensor '{m.split('.', 1)[1]}' (expected shape {list(expected[m].shape)})"
                           + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    return cfg, tensors, notes


DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def write(cfg: SpikeCLIPConfig, tensors: dict[str, torch.Tensor], out: Path, dtype: str = "f32") -> Path:
    """Write the checkpoint atomically (replacing ``out``); tensors in ``dtype``, in key order."""
    from .export import FORMAT, FORMAT_VERSION
    data = {k: tensors[k].detach().to(DTYPES[dtype]).contiguous() for k in sorted(tensors)}
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": cfg.to_json()}
    return st_io.write_atomic(out, st_io.serialize(data, meta), overwrite=True)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spikeclip_training.convert_official",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--vision", required=True, type=Path, help="spiking image encoder file (.pth.tar, .pth, .bin, .safetensors)")
    ap.add_argument("--text", required=True, type=Path, help="spiking text encoder file")
    ap.add_argument("--clip", type=Path, help="Hugging Face CLIPModel folder (the ANN side; its vocabulary)")
    ap.add_argument("--out", required=True, type=Path, help="the SpikeCLIP checkpoint to write (.safetensors)")
    ap.add_argument("--classes", type=Path, help="default class names, one per line (default: CIFAR-10's)")
    ap.add_argument("--templates", type=Path, help="default prompt templates with {}, one per line")
    ap.add_argument("--num-heads", type=int, help=f"attention heads when the file has no saved args (default {OFFICIAL_NUM_HEADS})")
    ap.add_argument("--image-size", type=int, help=f"spiking encoder input size (default {OFFICIAL_IMAGE_SIZE})")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="f32", help="stored dtype (default f32)")
    a = ap.parse_args(argv)
    for name, value in (("--num-heads", a.num_heads), ("--image-size", a.image_size)):
        if value is not None and not 1 <= value <= 4096:
            ap.error(f"{name} {value} must be in 1..4096")
    try:
        classes = read_lines(a.classes, "--classes") if a.classes else None
        templates = read_lines(a.templates, "--templates") if a.templates else None
        for n, t in enumerate(templates or [], 1):
            if "{}" not in t:
                raise ConvertError(f"--templates {a.templates}: template {n} '{t[:60]}' has no {{}} for the class name")
        cfg, tensors, notes = convert(a.vision, a.text, a.out, a.clip, classes, templates, a.num_heads, a.image_size)
        if a.out.is_dir():
            raise ConvertError(f"--out {a.out}: is a folder")
        path = write(cfg, tensors, a.out, a.dtype)
    except (ConvertError, OfficialFileError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: --out {a.out}: cannot write ({e.strerror or type(e).__name__})", file=sys.stderr)
        return 1
    v, t = cfg.vision, cfg.text
    print(f"wrote {path}: spiking image encoder D {v.embed_dims}, {v.num_heads} heads, depth {v.depths}, "
          f"{v.in_channels}x{v.image_size[0]}x{v.image_size[1]}; text encoder L {t.context_length}, E {t.embed_dim}, "
          f"hidden {t.hidden_dim}, V {t.embedding.vocab_size}; T {cfg.T}, target {v.target_dim}; "
          f"ANN side: {'CLIP ' + cfg.ann_text.file if cfg.ann_text else 'none'}")
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
