"""Golden tensors from a trained checkpoint (docs/CHECKPOINT.md "Golden fixture" format) for the Swift tests.

Inputs are real: ``B`` validation images (never the test set) and the checkpoint's class prompts tokenised with the
MiniLM vocabulary. The reference is computed in float64 from the stored weights (F16 tensors widened exactly).
Images are taken in validation order, one per class as far as possible, keeping only those whose every neuron and
step (``attn_lif`` excepted, see fixtures.py) is at least ``MIN_MARGIN`` from its threshold; templates are kept if
all their class prompts meet the same margin in the text encoder (at least one template is always kept: if none
qualifies, the best one is used and the metadata says so through ``min_threshold_margin``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from . import data, st_io, text
from .export import load_checkpoint
from .fixtures import FIXTURE_FORMAT, FIXTURE_VERSION, MEMBRANE_NEURONS, MIN_MARGIN
from .model import lif_layers, zero_shot

GENERATOR = "spikeclip_training.trained_fixture"


def _margins(layers, prefix: str, item_dim: int = 1) -> tuple[torch.Tensor, int]:
    """Per item (dim 1 of the recorded charge) smallest |h - threshold| over non-attn layers; attn_lif exact ties."""
    worst, ties = None, 0
    for name, lif in layers.items():
        if not name.startswith(prefix):
            continue
        gap = (lif.recorded_membrane_full - lif.v_threshold).abs()
        if name.endswith("attn_lif"):
            ties += int((gap == 0).sum())
            continue
        m = gap.transpose(0, 1).reshape(gap.shape[1], -1).min(1).values
        worst = m if worst is None else torch.minimum(worst, m)
    return worst, ties


def write_trained_fixture(ckpt: Path, out: Path, tok: text.Tokenizer, images: int = 2, seed: int = 0,
                          candidates: int = 400, log: Optional[Callable[[str], None]] = None,
                          pixels: Optional[torch.Tensor] = None, labels: Optional[torch.Tensor] = None,
                          source: str = "validation images {} (train-images index 55000 + i)") -> dict:
    """Write the golden file for ``ckpt`` to ``out``; returns a summary (chosen images, templates, margins).

    Candidates are the first ``candidates`` Fashion-MNIST validation images, or ``pixels`` ``[N, C, H, W]``
    (preprocessed) with ``labels`` ``[N]`` (the open set's validation views); ``source`` describes them in the
    metadata (``{}`` is replaced by the chosen indices)."""
    model, cfg = load_checkpoint(ckpt, dtype=torch.float64)
    model.eval()
    layers = lif_layers(model)
    for lif in layers.values():
        lif.record_full_membrane = True
    if pixels is None:
        x_u8, y = data.load_split("val", candidates)
        pixels = data.normalize(x_u8).double()              # F32 values held in float64
    else:
        pixels, y = pixels.float().double(), labels
    with torch.no_grad():
        model.vision(pixels)
        img_margin, _ = _margins(layers, "vision.")
    chosen, classes_done = [], set()
    for i in range(len(y)):                                 # one image per class first
        if float(img_margin[i]) >= MIN_MARGIN and int(y[i]) not in classes_done:
            chosen.append(i)
            classes_done.add(int(y[i]))
        if len(chosen) == images:
            break
    if len(chosen) < images:
        order = [int(i) for i in torch.argsort(img_margin, descending=True) if int(i) not in chosen]
        chosen += order[:images - len(chosen)]
    K, M = len(cfg.classes), len(cfg.templates)
    ids, _ = tok(text.prompts(cfg.classes, cfg.templates))
    with torch.no_grad():
        model.text(ids)
        p_margin, _ = _margins(layers, "text.")
    per_template = p_margin.reshape(K, M).min(0).values
    keep = [m for m in range(M) if float(per_template[m]) >= MIN_MARGIN] or [int(per_template.argmax())]
    templates = [cfg.templates[m] for m in keep]
    ids = ids.reshape(K, M, -1)[:, keep].reshape(K * len(keep), -1)
    px = pixels[chosen]
    for lif in layers.values():
        lif.record_spikes = True
    with torch.no_grad():
        out_v = model.vision(px)
        out_a = model.ann_vision(px)
        v_margin, _ = _margins(layers, "vision.")
        out_t = model.text(ids)
        t_margin, _ = _margins(layers, "text.")
    ties = 0
    zs = zero_shot(out_v, out_t, len(keep), cfg.logit_scale)
    golden = {"input.pixel_values": px.float(), "input.token_ids": ids.to(torch.int32)}
    pick = np.random.default_rng([seed, 1])
    for name, lif in layers.items():
        s = lif.recorded_spikes
        golden[f"spikes.{name}"] = s.contiguous()
        if name.endswith("attn_lif"):
            ties += int(((lif.recorded_membrane_full - lif.v_threshold) == 0).sum())
        counts = s.reshape(s.shape[0], -1).sum(0).numpy().astype(np.int64)
        order = np.argsort(-counts, kind="stable")
        top = [int(i) for i in order[:2]]
        rest = np.setdiff1d(np.arange(counts.size), top)
        idx = top + [int(i) for i in pick.choice(rest, size=MEMBRANE_NEURONS - 2, replace=False)]
        golden[f"membrane.{name}"] = lif.recorded_membrane_full.reshape(s.shape[0], -1)[:, idx].float().contiguous()
        golden[f"membrane_index.{name}"] = torch.tensor(idx, dtype=torch.int32)
    golden.update({"output.vision": out_v.float(), "output.text": out_t.float(), "output.ann_vision": out_a.float(),
                   "output.class_embeddings": zs["class_embeddings"].float(), "output.logits": zs["logits"].float(),
                   "output.probs": zs["probs"].float(), "output.top1": zs["top1"].to(torch.int32)})
    min_margin = float(min(v_margin.min(), t_margin.min()))
    meta = {"fixture_format": FIXTURE_FORMAT, "fixture_version": FIXTURE_VERSION, "num_classes": str(K),
            "num_templates": str(len(keep)), "seed": str(seed), "min_threshold_margin": repr(min_margin),
            "min_threshold_margin_scope": "all LIF layers except *.attn_lif (exact dyadic charge, see README)",
            "attn_lif_exact_ties": str(ties), "generator": GENERATOR,
            "images": source.format(",".join(str(c) for c in chosen)),
            "templates": "|".join(templates)}
    st_io.write_atomic(out, st_io.serialize(golden, meta), overwrite=True)
    info = {"images": chosen, "labels": [int(y[c]) for c in chosen], "templates_kept": len(keep),
            "min_threshold_margin": min_margin, "attn_lif_exact_ties": ties, "bytes": out.stat().st_size,
            "top1": [int(t) for t in zs["top1"]]}
    if log:
        log(f"fixtures: {out} ({info['bytes'] / 2**20:.2f} MiB), images {chosen}, {len(keep)}/{M} templates, "
            f"min margin {min_margin:.2e}")
    return info
