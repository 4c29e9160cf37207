"""Golden fixtures for the CLIP model family in the engine (issue 13).

``python -m spikeclip_training.clip_fixtures --out Tests/Fixtures/clip`` writes

- ``tokenizer.json``: a corpus of >= 400 strings (the WordPiece corpus of ``text_fixtures`` plus CLIP-specific
  cases: HTML entities, contractions and apostrophes, digit runs, punctuation runs, whitespace runs, prompts of 18-22
  tokens, very long strings) with the ids of transformers' ``CLIPTokenizer`` (v5: backed by the Rust ``tokenizers``
  library, what v4 called ``CLIPTokenizerFast``) built from CLIP's real vocabulary: ``full_ids`` (start and end
  tokens, no truncation), ``ids`` for SpikeCLIP's L = 20 (``padding="max_length", truncation=True``: truncation
  keeps the end token, padding with the pad token ``<|endoftext|>``). ``reference_differs`` lists the strings where
  the original OpenAI tokenizer (``open_clip``'s ``SimpleTokenizer``: ftfy and HTML unescaping before BPE) gives
  other ids, with its ids.

- ``<name>/``: a Hugging Face ``CLIPModel`` folder (``config.json``, ``model.safetensors``) with random weights (every
  parameter perturbed, so LayerNorm biases and scales matter) and ``<name>/golden.safetensors``: inputs
  ``pixel_values`` ``[B, 3, H, W]`` and ``input_ids`` ``[P, L]``, float64 outputs ``image_features`` ``[B, proj]`` and
  ``text_features`` ``[P, proj]`` (``get_image_features``/``get_text_features``: projected, not normalised),
  ``logits_per_image`` ``[B, P]``; computed in float64 from the stored weights, stored as F32. ``tiny`` (F32, image 32, patch 8,
  exact GELU, end token found by id) and ``vitb16-geometry`` (F16, ViT-B/16's image 224 / patch 16 / class token at
  width 64 and depth 2, QuickGELU, the legacy ``eos_token_id = 2`` pooling by arg-max id, L = 77) and ``official-ann``
  (F16, CLIP's vocabulary size 49408 and its start/end ids, image 224 / patch 16, width 8, projection 32: the ANN side
  of ``Tests/Fixtures/official-import``, which ``fixtures`` writes after it).

- ``images/*.png`` (12 generated images: sizes from 17x23 to 320x180, portrait and landscape, grey, grey + alpha, RGB,
  RGBA) and ``images/expected.safetensors``: for each, transformers' ``CLIPImageProcessor`` (torchvision backend,
  bicubic antialiased resize of the short side, center crop, RGBA composited on white) output before normalisation
  as U8 ``[3, S, S]``, at the default 224 for two images and at 96 (``shortest_edge`` = crop = 96) for the rest.

The vocabulary is ``assets/clip/bpe_simple_vocab_16e6.txt.gz``, the file OpenAI's CLIP and open_clip ship (MIT);
the generator checks it is byte-identical to the copy inside the installed ``open-clip-torch`` wheel and converts it to
the Hugging Face layout (``vocab.json`` + ``merges.txt``) the way transformers' own conversion does.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from . import st_io  # noqa: E402
from .text_fixtures import corpus as wordpiece_corpus  # noqa: E402

CONTEXT_LENGTH = 20
GENERATOR = "spikeclip_training.clip_fixtures"
FIXTURE_VERSION = "1"
REPO = Path(__file__).resolve().parents[2]
VOCAB_GZ = REPO / "assets" / "clip" / "bpe_simple_vocab_16e6.txt.gz"


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's (and GPT-2's) reversible byte -> printable character map: printable Latin-1 bytes map to themselves,
    the other 68 bytes to U+0100 upwards in byte order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = keep[:]
    n = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(keep, chars)}


def merges_from_gz(path: Path) -> list[tuple[str, str]]:
    """The 48,894 merges CLIP uses: lines 1 .. 49152 - 256 - 2 of the file (line 0 is a version header)."""
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").split("\n")
    return [tuple(line.split()) for line in lines[1:49152 - 256 - 2 + 1]]


def hf_vocab(merges: list[tuple[str, str]]) -> dict[str, int]:
    """The 49,408-entry vocabulary: bytes, bytes + ``</w>``, each merge result, then the two special tokens."""
    base = list(bytes_to_unicode().values())
    vocab = base + [v + "</w>" for v in base] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    return {token: i for i, token in enumerate(vocab)}


def write_hf_files(out: Path) -> Path:
    """``vocab.json``, ``merges.txt`` and the special-token files of the Hugging Face CLIP layout, in ``out``."""
    merges = merges_from_gz(VOCAB_GZ)
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps(hf_vocab(merges), ensure_ascii=False), encoding="utf-8")
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n", encoding="utf-8")
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
    (out / "special_tokens_map.json").write_text(json.dumps(special), encoding="utf-8")
    (out / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 77, **special}), encoding="utf-8")
    return out


def open_clip_dir() -> Path:
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("open-clip-torch is not installed (scripts/deps.sh installs it with --no-deps)")
    return Path(list(spec.submodule_search_locations)[0])


def check_vocab_matches_wheel() -> str:
    ours = VOCAB_GZ.read_bytes()
    theirs = (open_clip_dir() / "bpe_simple_vocab_16e6.txt.gz").read_bytes()
    if ours != theirs:
        raise SystemExit(f"{VOCAB_GZ} differs from the open-clip-torch wheel's copy")
    return hashlib.sha256(ours).hexdigest()


def simple_tokenizer():
    """open_clip's ``SimpleTokenizer`` (the original OpenAI tokenizer), loaded from its file without importing the
    package (whose ``__init__`` needs timm and torchvision)."""
    spec = importlib.util.spec_from_file_location("open_clip_tokenizer", open_clip_dir() / "tokenizer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SimpleTokenizer(bpe_path=str(VOCAB_GZ))


CLIP_EXTRA = [
    # HTML entities (the OpenAI tokenizer unescapes them, the HF one does not)
    "fish &amp; chips", "&lt;b&gt;bold&lt;/b&gt;", "caf&eacute;", "&#39;quoted&#39;", "&nbsp;space", "a &quot;photo&quot;",
    # contractions and apostrophes
    "it's a dog", "they're here", "we've seen", "I'm fine", "you'll see", "he'd go", "don't", "can't stop",
    "IT'S LOUD", "rock 'n' roll", "the dog's bone", "o'clock", "'''", "'s", "’s curly apostrophe", "l'été",
    # digits and punctuation runs
    "1234567890", "3.14159", "2026-12-01", "$100,000.00", "100%", "50/50", "v1.2.3-rc4", "#hashtag", "@user",
    "!!!???", "...", "--", "(((nested)))", "a,b;c:d", "~!@#$%^&*()_+", "<|startoftext|>", "<|endoftext|>",
    "a <|endoftext|> b", "</w>", "hello</w>world",
    # whitespace
    "  leading", "trailing  ", "a\tb", "a\nb", "a\r\nb", "a  \t\n  b", "\u00a0nbsp\u00a0", "\u2003em space", "\u200bzero width",
    # unicode
    "naïve café", "Ångström", "Straße", "ǅemal", "İstanbul", "ﬁne ligature", "Ⅻ roman", "①②③", "Ω≈ç√∫",
    "😀😃😄", "👩‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "🇯🇵 japan", "👍🏽 thumbs", "東京タワー", "한국어 텍스트", "ру́сский", "العربية",
    "עברית", "हिन्दी", "ไทย", "e\u0301 combining", "Ａ full width", "ｶﾀｶﾅ half width",
    # long
    "a" * 300, "ab " * 100, "supercalifragilisticexpialidocious", "antidisestablishmentarianism " * 5,
    "a photo of a " + "very " * 40 + "small dog",
]


def prompts_near_l(tokenizer) -> list[str]:
    """Prompts of exactly 18 to 22 tokens (start and end included), several of each length."""
    words = "a photo of the large small red blue green old new dog cat bird car tree house boat shoe bag hat".split()
    out, lengths = [], {n: 0 for n in range(18, 23)}
    i = 0
    while any(c < 4 for c in lengths.values()) and i < 5000:
        k = 14 + i % 10
        text = " ".join(words[(i * 7 + j * 3) % len(words)] for j in range(k)) + ("." if i % 3 == 0 else "")
        n = len(tokenizer(text, truncation=False)["input_ids"])
        if n in lengths and lengths[n] < 4:
            lengths[n] += 1
            out.append(text)
        i += 1
    return out


def tokenizer_fixture() -> dict:
    from transformers import CLIPTokenizer

    sha = check_vocab_matches_wheel()
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_hf_files(Path(tmp))
        fast = CLIPTokenizer(vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"))
        reference = simple_tokenizer()
        items, seen = [], set()
        for s in wordpiece_corpus() + CLIP_EXTRA + prompts_near_l(fast):
            if s not in seen:
                seen.add(s)
                items.append(s)
        cases, differs = [], []
        for text in items:
            full = fast(text, truncation=False)["input_ids"]
            short = fast(text, padding="max_length", truncation=True, max_length=CONTEXT_LENGTH)
            ids = short["input_ids"]
            if len(ids) != CONTEXT_LENGTH or ids[0] != 49406:
                raise AssertionError(f"{text!r}: unexpected L={CONTEXT_LENGTH} encoding {ids}")
            ref = [49406] + reference.encode(text) + [49407]
            if ref != full:
                differs.append({"text": text, "reference_ids": ref})
            cases.append({"text": text, "ids": ids, "full_ids": full})
    return {
        "fixture_version": FIXTURE_VERSION,
        "generator": GENERATOR,
        "reference": "transformers CLIPTokenizer (tokenizers: NFC, whitespace runs -> ' ', lowercase, CLIP split pattern, "
                     "byte-level, BPE with </w>) from CLIP's bpe_simple_vocab_16e6.txt.gz",
        "vocab_sha256": sha,
        "context_length": CONTEXT_LENGTH,
        "pad_id": 49407,
        "cases": cases,
        "reference_differs": differs,
    }


MODEL_CONFIGS = {
    "tiny": dict(
        dtype="float32", batch=2, prompts=3, length=16,
        vision=dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=4, hidden_act="gelu"),
        text=dict(vocab_size=1000, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  max_position_embeddings=77, hidden_act="gelu", bos_token_id=998, eos_token_id=999, pad_token_id=999),
        projection_dim=16),
    "vitb16-geometry": dict(
        dtype="float16", batch=1, prompts=3, length=77,
        vision=dict(image_size=224, patch_size=16, hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                    num_attention_heads=4, hidden_act="quick_gelu"),
        text=dict(vocab_size=1000, hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                  max_position_embeddings=77, hidden_act="quick_gelu", bos_token_id=0, eos_token_id=2, pad_token_id=1),
        projection_dim=32),
    # The ANN side of Tests/Fixtures/official-import (a converted official file): CLIP's vocabulary size, image 224 /
    # patch 16, projection 32 = the fixture's target width; width 8 keeps it under 1 MB.
    "official-ann": dict(
        dtype="float16", batch=1, prompts=3, length=20,
        vision=dict(image_size=224, patch_size=16, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                    num_attention_heads=2, hidden_act="quick_gelu"),
        text=dict(vocab_size=49408, hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                  max_position_embeddings=77, hidden_act="quick_gelu", bos_token_id=49406, eos_token_id=49407,
                  pad_token_id=49407),
        projection_dim=32),
}


def _clip_model(spec: dict, seed: int):
    import torch
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(seed)
    config = CLIPConfig(text_config=spec["text"], vision_config=spec["vision"], projection_dim=spec["projection_dim"])
    model = CLIPModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
        model.logit_scale.fill_(2.0)
    return model.to(getattr(torch, spec["dtype"]))


def _inputs(spec: dict, seed: int):
    import torch

    g = torch.Generator().manual_seed(seed + 1)
    v, t = spec["vision"], spec["text"]
    pixels = torch.randn(spec["batch"], 3, v["image_size"], v["image_size"], generator=g, dtype=torch.float64)
    big = t["vocab_size"] > 1000                                           # CLIP's own ids (official-ann)
    L, end = spec["length"], (t["eos_token_id"] if big else 999)
    ids = torch.full((spec["prompts"], L), t["pad_token_id"], dtype=torch.int64)
    for p in range(spec["prompts"]):
        n = 3 + (p * 5) % (L - 4)                                          # real tokens before the end token
        ids[p, 0] = t["bos_token_id"] if big else (998 if t["eos_token_id"] != 2 else 0)
        ids[p, 1:n + 1] = torch.randint(3, 990, (n,), generator=g)
        ids[p, n + 1] = end                                                # the end token: id 999 is also the arg-max
    return pixels, ids


def model_fixture(name: str, out: Path, seed: int = 0) -> None:
    import torch

    spec = MODEL_CONFIGS[name]
    folder = out / name
    model = _clip_model(spec, seed)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder), safe_serialization=True)
    pixels, ids = _inputs(spec, seed)
    reference = model.to(torch.float64)                                    # float64 from the stored weights
    with torch.no_grad():
        vision = reference.vision_model(pixel_values=pixels)
        image = reference.visual_projection(vision.pooler_output)
        text_out = reference.text_model(input_ids=ids)
        text = reference.text_projection(text_out.pooler_output)
        logits = reference(pixel_values=pixels, input_ids=ids).logits_per_image
    tensors = {"pixel_values": pixels.float(), "input_ids": ids.to(torch.int32), "image_features": image.float(),
               "text_features": text.float(), "logits_per_image": logits.float()}
    meta = {"fixture_format": "spikeclip-clip-golden", "fixture_version": FIXTURE_VERSION, "generator": GENERATOR,
            "config": name, "seed": str(seed), "dtype": spec["dtype"]}
    st_io.save(folder / "golden.safetensors", tensors, meta, overwrite=True)


IMAGES = [  # name, width, height, PIL mode, processor size
    ("landscape-rgb", 320, 180, "RGB", 224), ("portrait-rgba", 150, 260, "RGBA", 224), ("square-rgb", 128, 128, "RGB", 96),
    ("tiny-rgb", 17, 23, "RGB", 96), ("wide-grey", 300, 60, "L", 96), ("tall-grey", 40, 200, "L", 96),
    ("grey-alpha", 90, 70, "LA", 96), ("rgba-half", 120, 100, "RGBA", 96), ("odd-rgb", 97, 131, "RGB", 96),
    ("exact-96", 96, 96, "RGB", 96), ("upscale-rgb", 48, 36, "RGB", 96), ("stripes-rgb", 200, 150, "RGB", 96),
]


def _image(name: str, w: int, h: int, mode: str, seed: int):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 127 + 120 * np.sin(x / (3 + seed % 5)) * np.cos(y / 7)
    g = 255 * x / max(w - 1, 1)
    b = 255 * ((x // 8 + y // 8) % 2)
    if "stripes" in name:
        r = 255 * (x % 2)
    rgb = np.stack([r, g, b], -1) + rng.normal(0, 6, (h, w, 3))
    a = np.clip(255 * (0.25 + 0.75 * y / max(h - 1, 1)), 0, 255)
    arr = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    alpha = np.rint(a).astype(np.uint8)[..., None]
    if mode == "RGB":
        return Image.fromarray(arr, "RGB")
    if mode == "RGBA":
        return Image.fromarray(np.concatenate([arr, alpha], -1), "RGBA")
    grey = arr[..., 0]
    if mode == "L":
        return Image.fromarray(grey, "L")
    return Image.fromarray(np.stack([grey, alpha[..., 0]], -1), "LA")


def preprocess_fixture(out: Path) -> None:
    import numpy as np
    import torch
    from transformers import CLIPImageProcessor

    folder = out / "images"
    folder.mkdir(parents=True, exist_ok=True)
    expected, sizes = {}, {}
    for i, (name, w, h, mode, size) in enumerate(IMAGES):
        img = _image(name, w, h, mode, i)
        img.save(folder / f"{name}.png", optimize=True)
        proc = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
                                  do_normalize=False, do_rescale=False)
        # What a user passes: the decoded file as a uint8 array [H, W, C] (LA and RGBA keep their alpha).
        from PIL import Image
        arr = np.asarray(Image.open(folder / f"{name}.png"))
        if arr.ndim == 2:
            arr = arr[..., None]
        if arr.shape[-1] == 2:                                            # grey + alpha -> RGBA, as PIL's convert does
            arr = np.concatenate([arr[..., :1]] * 3 + [arr[..., 1:]], -1)
        t = torch.from_numpy(arr.copy()).permute(2, 0, 1)
        pv = proc(images=t, return_tensors="pt")["pixel_values"][0]
        expected[name] = torch.clamp(pv.round(), 0, 255).to(torch.uint8)
        sizes[name] = size
    st_io.save(folder / "expected.safetensors", expected,
               {"generator": GENERATOR, "fixture_version": FIXTURE_VERSION, "sizes": json.dumps(sizes, sort_keys=True),
                "reference": "transformers CLIPImageProcessor (torchvision backend), do_rescale/do_normalize off"},
               overwrite=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "Tests" / "Fixtures" / "clip")
    p.add_argument("--only", choices=sorted(MODEL_CONFIGS), help="write only this model folder")
    args = p.parse_args(argv)
    if args.only:
        model_fixture(args.only, args.out)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    data = tokenizer_fixture()
    text = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    st_io.write_atomic(args.out / "tokenizer.json", text.encode("utf-8"), overwrite=True)
    print(f"wrote {args.out / 'tokenizer.json'}: {len(data['cases'])} strings, "
          f"{len(data['reference_differs'])} where the OpenAI tokenizer differs", file=sys.stderr)
    preprocess_fixture(args.out)
    print(f"wrote {args.out / 'images'}: {len(IMAGES)} images and expected.safetensors", file=sys.stderr)
    for name in MODEL_CONFIGS:
        model_fixture(name, args.out)
        print(f"wrote {args.out / name}: config.json, model.safetensors, golden.safetensors", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
