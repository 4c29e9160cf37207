"""Golden fixtures for the Swift engine (docs/CHECKPOINT.md "Golden fixture").

``python -m spikeclip_training.fixtures --out Tests/Fixtures`` writes, per fixture, ``<name>/model.safetensors``
(an F32 checkpoint with random but well-conditioned weights), ``<name>/golden.safetensors`` (inputs, every
LIF layer's spikes, 4 neurons' charge h[t] per layer, and all outputs, computed in float64 from the stored F32
weights) and ``<name>/energy.json`` (per-layer operation counts, ``energy_fixture.py``), plus ``README.md``. Output is byte-identical between runs.

Seed search: seeds 0, 1, 2, ... until (a) every LIF layer fires at a mean rate in [0.03, 0.6], (b) the
smallest ``|h - v_threshold|`` over all neurons and steps of every LIF layer whose input is real-valued is
>= 1e-5 (so float32 rounding cannot flip a spike), (c) outputs are not degenerate and the top-1 class of
each image leads by >= 1e-4 in logit. ``attn_lif`` layers are exempt from (b): their input is
``0.125 * (spike-count products)``, so their charge is a dyadic rational computed exactly in float32 too,
and exact ties (h == 0.5, which fire because of ``>=``) are legitimate test cases; they are counted in the
metadata (``attn_lif_exact_ties``).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from . import st_io
from .config import (AnnVisionConfig, LIFConfig, PreprocessConfig, SpikeCLIPConfig, TextConfig,
                     TextEmbeddingConfig, TokenizerConfig, VisionConfig)
from .config import AnnTextRef
from .convert_official import CLIP_VOCAB_SIZE, clip_then_resize_config, clip_tokenizer_config, sha256_file
from .export import checkpoint_bytes
from .lif import LIF
from .model import SpikeCLIP, lif_layers

B_IMAGES = 2
NUM_CLASSES = 3
NUM_TEMPLATES = 2
RATE_MIN, RATE_MAX = 0.03, 0.6
MIN_MARGIN = 1e-5
MIN_TOP1_GAP = 1e-4
MEMBRANE_NEURONS = 4
FIXTURE_FORMAT = "spikeclip-golden"
FIXTURE_VERSION = "1"
GENERATOR = "spikeclip_training.fixtures"


# ----------------------------------------------------------------------------- configs

def _config(name: str, seed: int) -> SpikeCLIPConfig:
    if name == "tiny-default":
        vision = VisionConfig(in_channels=1, image_size=[28, 28], embed_dims=32, num_heads=4, mlp_ratios=4,
                              depths=1, target_dim=24)
        ann = AnnVisionConfig(embed_dims=32, num_heads=4, mlp_ratios=4, depths=1, target_dim=24, layer_norm_eps=1e-5)
        text = TextConfig(context_length=20, embed_dim=16, hidden_dim=48, target_dim=24,
                          embedding=TextEmbeddingConfig(kind="bert", vocab_size=100, max_position_embeddings=20,
                                                        type_vocab_size=2, layer_norm_eps=1e-12))
        pre = PreprocessConfig(image_size=[28, 28], channels=1, mean=[0.286], std=[0.353])
        tok = TokenizerConfig(kind="ids", context_length=20, pad_id=0, cls_id=1, sep_id=2)
        logit_scale = 10.0
        ann_text = None
    elif name == "tiny-official":
        vision = VisionConfig(in_channels=3, image_size=[32, 32], embed_dims=64, num_heads=8, mlp_ratios=4,
                              depths=2, target_dim=32)
        ann = AnnVisionConfig(embed_dims=64, num_heads=8, mlp_ratios=4, depths=2, target_dim=32, layer_norm_eps=1e-5)
        text = TextConfig(context_length=20, embed_dim=16, hidden_dim=64, target_dim=32,
                          embedding=TextEmbeddingConfig(kind="clip", vocab_size=64, max_position_embeddings=20))
        pre = PreprocessConfig(image_size=[32, 32], channels=3, mean=[0.4914, 0.4822, 0.4465],
                               std=[0.247, 0.2435, 0.2616])
        tok = TokenizerConfig(kind="ids", context_length=20, pad_id=0, cls_id=62, sep_id=63)
        logit_scale = 1.0
        ann_text = None
    elif name == "official-import":
        # What convert_official writes for an official run (no ANN twin, CLIP BPE, clip-then-resize), at a small
        # width: CLIP's real vocabulary (V 49408, 77 positions) with E = 4 keeps the file under 1 MB.
        vision = VisionConfig(in_channels=3, image_size=[32, 32], embed_dims=64, num_heads=8, mlp_ratios=4,
                              depths=2, target_dim=32)
        ann = None
        text = TextConfig(context_length=20, embed_dim=4, hidden_dim=64, target_dim=32,
                          embedding=TextEmbeddingConfig(kind="clip", vocab_size=CLIP_VOCAB_SIZE, max_position_embeddings=77))
        pre = clip_then_resize_config([32, 32])
        tok = clip_tokenizer_config(20)
        logit_scale = 1.0
        # Its ANN side: the random-weight CLIP folder of clip_fixtures (one folder up from the checkpoint, where the
        # loader looks), named with its hash as convert_official --clip names one.
        clip = Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "clip" / "official-ann" / "model.safetensors"
        if not clip.is_file():
            raise SystemExit(f"{clip} is missing: run python -m spikeclip_training.clip_fixtures --only official-ann first")
        ann_text = AnnTextRef(file="clip/official-ann", sha256=sha256_file(clip))
    else:
        raise KeyError(f"unknown fixture {name!r}; known: {FIXTURES}")
    return SpikeCLIPConfig(
        T=4, lif=LIFConfig(), batch_norm_eps=1e-5, vision=vision, ann_vision=ann, text=text,
        logit_scale=logit_scale, preprocess=pre, tokenizer=tok,
        classes=[f"class{c}" for c in range(NUM_CLASSES)],
        templates=["a photo of a {}.", "a drawing of a {}."][:NUM_TEMPLATES],
        ann_text=ann_text,
        provenance={"kind": "random-fixture", "fixture": name, "seed": seed, "generator": GENERATOR},
    )


FIXTURES = ("tiny-default", "tiny-official", "official-import")


# ----------------------------------------------------------------------------- inputs

def make_inputs(cfg: SpikeCLIPConfig, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth random images ``[B, C, H, W]`` (normalised with the config's mean/std, F32-representable,
    float64) and prompt ids ``[P, L]`` int64 (start id, random ids, end id, pad; one row fills all L)."""
    C = cfg.vision.in_channels
    H, W = cfg.vision.image_size
    yy, xx = np.meshgrid(np.arange(H) / H, np.arange(W) / W, indexing="ij")
    raw = np.empty((B_IMAGES, C, H, W))
    for b in range(B_IMAGES):
        base = rng.uniform(0.25, 0.75)
        for c in range(C):
            img = np.full((H, W), base + rng.uniform(-0.1, 0.1))
            for _ in range(3):
                fy, fx = rng.integers(0, 4, size=2)
                img += rng.uniform(0.05, 0.25) * np.cos(2 * np.pi * (fx * xx + fy * yy) + rng.uniform(0, 2 * np.pi))
            raw[b, c] = np.clip(img, 0.0, 1.0)
    mean = np.asarray(cfg.preprocess.mean).reshape(1, C, 1, 1)
    std = np.asarray(cfg.preprocess.std).reshape(1, C, 1, 1)
    pixels = torch.from_numpy(((raw - mean) / std).astype(np.float32)).double()

    tok, V, L = cfg.tokenizer, cfg.text.embedding.vocab_size, cfg.text.context_length
    special = {tok.pad_id, tok.cls_id, tok.sep_id}
    pool = np.array([i for i in range(V) if i not in special])
    P = NUM_CLASSES * NUM_TEMPLATES
    full_row = int(rng.integers(0, P))
    ids = np.full((P, L), tok.pad_id, dtype=np.int64)
    for p in range(P):
        n = L - 2 if p == full_row else int(rng.integers(1, 7))
        ids[p, : n + 2] = [tok.cls_id, *rng.choice(pool, size=n), tok.sep_id]
    return pixels, torch.from_numpy(ids)


# ----------------------------------------------------------------------------- weights

def _normal(rng, shape, std) -> torch.Tensor:
    return torch.from_numpy(rng.normal(0.0, std, size=shape))


def _uniform(rng, shape, lo, hi) -> torch.Tensor:
    return torch.from_numpy(rng.uniform(lo, hi, size=shape))


def _bn_affine(name: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """(weight range, bias range) for a BatchNorm by role; BN output ~ N(bias, weight^2) after calibration.

    Spiking-side BN outputs are wide (std 3..5) with a negative mean: the firing rate stays moderate while few
    charges land near the threshold, which keeps the float32 margin search short.
    """
    if name.startswith("ann_vision."):
        return (0.5, 1.5), (-0.3, 0.3)
    if name.endswith(("proj_bn", "mlp2_bn")):             # branches added to the residual stream
        return (1.0, 2.5), (-0.5, 0.5)
    if name.endswith(("q_bn", "k_bn", "v_bn")):            # q/k/v rate ~0.2 keeps attn_lif in range
        return (3.0, 5.0), (-1.5, -0.5)
    if name.endswith(("block2_bn", "block3_bn")):          # a 3x3 max-pool sits between BN and LIF
        return (3.0, 5.0), (-5.0, -3.0)
    return (3.0, 5.0), (-2.0, 0.0)                        # before a LIF, and block4_bn (start of the stream)


def init_weights(model: SpikeCLIP, rng: np.random.Generator) -> None:
    """Random float64 weights, module by module in ``named_modules`` order (deterministic)."""
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(_normal(rng, tuple(m.weight.shape), 1.0 / math.sqrt(fan_in)))
                if m.bias is not None:
                    m.bias.copy_(_normal(rng, tuple(m.bias.shape), 0.1))
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                (wl, wh), (bl, bh) = _bn_affine(name)
                m.weight.copy_(_uniform(rng, tuple(m.weight.shape), wl, wh))
                m.bias.copy_(_uniform(rng, tuple(m.bias.shape), bl, bh))
            elif isinstance(m, nn.LayerNorm):
                lo, hi = (0.9, 1.6) if name.startswith("text.") else (0.8, 1.2)
                m.weight.copy_(_uniform(rng, tuple(m.weight.shape), lo, hi))
                m.bias.copy_(_uniform(rng, tuple(m.bias.shape), -0.2, 0.3))
            elif isinstance(m, nn.Embedding):
                std = 1.0 if name.endswith(("word_embeddings", "token_embedding")) else 0.4
                m.weight.copy_(_normal(rng, tuple(m.weight.shape), std))
        for enc in (model.vision, model.text):
            T = enc.weights_tensor.shape[1]
            base = torch.tensor([math.log(0.1 * 2.0 ** t) for t in range(T)], dtype=torch.float64)
            enc.weights_tensor.copy_((base + _normal(rng, (T,), 0.05)).view(1, T, 1))


def calibrate_batch_norm(module: nn.Module, run: Callable[[], object]) -> None:
    """Set every BatchNorm's running stats to the batch statistics of one forward (``run``) of ``module``."""
    bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None                                  # cumulative average: one batch -> its stats
    module.train()
    with torch.no_grad():
        run()
    module.eval()
    for m in bns:
        m.momentum = 0.1


def calibrate_text_fc1(model: SpikeCLIP, ids: torch.Tensor, rng: np.random.Generator) -> None:
    """Rescale ``text.fc1`` so each unit's pre-activation has mean ~U(0.3, 0.9) and std ~U(0.8, 1.4) on ``ids``."""
    text = model.text
    with torch.no_grad():
        e = text.clip_embedding(ids)
        x = e.reshape(e.shape[0], -1).unsqueeze(0).expand(text.T, -1, -1)
        z = text.fc1(text.mlp_lif1(x)).reshape(-1, text.fc1.out_features)
        mu, sd = z.mean(0), z.std(0).clamp_min(1e-3)
        n = text.fc1.out_features
        gain = _uniform(rng, (n,), 0.8, 1.4) / sd
        shift = _uniform(rng, (n,), 0.3, 0.9)
        text.fc1.weight.mul_(gain[:, None])
        text.fc1.bias.copy_((text.fc1.bias - mu) * gain + shift)


def round_to_f32(model: nn.Module) -> None:
    """Round every parameter and buffer to the nearest float32 (kept in float64)."""
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.copy_(t.float().double())


# ----------------------------------------------------------------------------- reference run

@dataclass
class Candidate:
    name: str
    seed: int
    ok: bool
    reasons: list = field(default_factory=list)
    rates: dict = field(default_factory=dict)
    margins: dict = field(default_factory=dict)
    min_margin: float = float("inf")
    attn_ties: int = 0
    model_bytes: bytes = b""
    golden_bytes: bytes = b""


def _pairwise_max_cos(x: torch.Tensor) -> float:
    n = torch.nn.functional.normalize(x, dim=-1)
    c = n @ n.T
    c.fill_diagonal_(-1.0)
    return float(c.max())


def build_candidate(name: str, seed: int, write: bool = True) -> Candidate:
    """Build the fixture ``name`` from ``seed`` and check the acceptance criteria (module docstring).

    With ``write`` and if accepted, ``model_bytes``/``golden_bytes`` hold the two files.
    """
    cfg = _config(name, seed)
    rng = np.random.default_rng(seed)
    pixels, ids = make_inputs(cfg, rng)
    model = SpikeCLIP(cfg).double()
    init_weights(model, rng)
    calibrate_batch_norm(model.vision, lambda: model.vision(pixels))
    if model.ann_vision is not None:
        calibrate_batch_norm(model.ann_vision, lambda: model.ann_vision(pixels))
    calibrate_text_fc1(model, ids, rng)
    round_to_f32(model)
    model.eval()

    layers = lif_layers(model)
    for lif in layers.values():
        lif.record_spikes, lif.record_full_membrane = True, True
    with torch.no_grad():
        out = model(pixels, ids, num_templates=NUM_TEMPLATES)

    cand = Candidate(name=name, seed=seed, ok=True)
    for lname, lif in layers.items():
        rate = float(lif.recorded_spikes.double().mean())
        cand.rates[lname] = rate
        if not RATE_MIN <= rate <= RATE_MAX:
            cand.reasons.append(f"{lname} rate {rate:.3f}")
        gap = (lif.recorded_membrane_full - lif.v_threshold).abs()
        if lname.endswith("attn_lif"):
            cand.attn_ties += int((gap == 0).sum())
            nz = gap[gap > 0]
            cand.margins[lname] = float(nz.min()) if nz.numel() else float("inf")
        else:
            cand.margins[lname] = float(gap.min())
            cand.min_margin = min(cand.min_margin, cand.margins[lname])
    if cand.min_margin < MIN_MARGIN:
        cand.reasons.append(f"min margin {cand.min_margin:.2e}")
    for key in ("vision", "ann_vision", "text"):
        if key not in out:
            continue
        if not torch.isfinite(out[key]).all() or float(out[key].norm(dim=-1).min()) < 1e-3:
            cand.reasons.append(f"{key} embedding degenerate (tiny norm)")
        elif _pairwise_max_cos(out[key]) > 0.999:
            cand.reasons.append(f"{key} embeddings nearly identical")
    top2 = out["logits"].topk(2, dim=-1).values
    if float((top2[:, 0] - top2[:, 1]).min()) < MIN_TOP1_GAP:
        cand.reasons.append("top-1 logit gap too small")
    cand.ok = not cand.reasons
    if not (cand.ok and write):
        return cand

    golden: dict[str, torch.Tensor] = {
        "input.pixel_values": pixels.float(),
        "input.token_ids": ids.to(torch.int32),
    }
    pick = np.random.default_rng([seed, 1])
    for lname, lif in layers.items():
        s = lif.recorded_spikes
        golden[f"spikes.{lname}"] = s.contiguous()
        counts = s.reshape(s.shape[0], -1).sum(0).numpy().astype(np.int64)
        order = np.argsort(-counts, kind="stable")           # most active first, ties -> lowest index
        top = [int(i) for i in order[:2]]
        rest = np.setdiff1d(np.arange(counts.size), top)
        idx = top + [int(i) for i in pick.choice(rest, size=MEMBRANE_NEURONS - 2, replace=False)]
        h = lif.recorded_membrane_full.reshape(s.shape[0], -1)[:, idx]
        golden[f"membrane.{lname}"] = h.float().contiguous()
        golden[f"membrane_index.{lname}"] = torch.tensor(idx, dtype=torch.int32)
    golden["output.vision"] = out["vision"].float()
    golden["output.text"] = out["text"].float()
    if "ann_vision" in out:
        golden["output.ann_vision"] = out["ann_vision"].float()
    golden["output.class_embeddings"] = out["class_embeddings"].float()
    golden["output.logits"] = out["logits"].float()
    golden["output.probs"] = out["probs"].float()
    golden["output.top1"] = out["top1"].to(torch.int32)
    meta = {
        "fixture_format": FIXTURE_FORMAT,
        "fixture_version": FIXTURE_VERSION,
        "num_classes": str(NUM_CLASSES),
        "num_templates": str(NUM_TEMPLATES),
        "seed": str(seed),
        "min_threshold_margin": repr(cand.min_margin),
        "min_threshold_margin_scope": "all LIF layers except *.attn_lif (exact dyadic charge, see README)",
        "attn_lif_exact_ties": str(cand.attn_ties),
        "generator": GENERATOR,
    }
    for lif in layers.values():
        lif.record_spikes = lif.record_full_membrane = False
        lif.clear_records()
    cand.model_bytes = checkpoint_bytes(model.float(), cfg, "f32")
    cand.golden_bytes = st_io.serialize(golden, meta)
    return cand


def search(name: str, start_seed: int = 0, max_seeds: int = 2000, log: Optional[Callable[[str], None]] = None
           ) -> Candidate:
    """First seed >= ``start_seed`` whose fixture meets the criteria. Raises ``RuntimeError`` after ``max_seeds``."""
    for seed in range(start_seed, start_seed + max_seeds):
        cand = build_candidate(name, seed, write=False)
        if cand.ok:
            return build_candidate(name, seed, write=True)
        if log:
            log(f"  {name} seed {seed} rejected: {'; '.join(cand.reasons[:3])}")
    raise RuntimeError(f"{name}: no acceptable seed in [{start_seed}, {start_seed + max_seeds})")


def readme_text(cands: list[Candidate]) -> str:
    rows = "\n".join(
        f"| `{c.name}` | {c.seed} | {c.min_margin:.3g} | {c.attn_ties} | "
        f"{min(c.rates.values()):.3f} .. {max(c.rates.values()):.3f} | "
        f"{len(c.model_bytes)} | {len(c.golden_bytes)} |" for c in cands)
    return f"""# Golden fixtures (generated, do not edit)

Each folder holds `model.safetensors` (F32 checkpoint, random weights, docs/CHECKPOINT.md) and
`golden.safetensors` (inputs, every LIF layer's spikes, charge `h[t]` of 4 neurons per layer, outputs;
computed in float64 from the stored F32 weights). B = {B_IMAGES} images, K = {NUM_CLASSES} classes,
M = {NUM_TEMPLATES} templates, P = K*M prompts (p = c*M + m), token ids given directly.

- `tiny-default`: 1x28x28, D 32, 4 heads, depth 1, T 4, target 24; BERT-style text embedding (V 100, E 16, L 20,
  hidden 48), logit_scale 10; tokenizer kind `ids`.
- `tiny-official`: 3x32x32, D 64, 8 heads, depth 2, T 4, target 32; CLIP-style text embedding (V 64, E 16, L 20,
  hidden 64), logit_scale 1; tokenizer kind `ids`.
- `official-import`: what `python -m spikeclip_training.convert_official` writes for an official run: no ANN twin,
  tokenizer `clip-bpe` (CLIP's real vocabulary, V 49408, 77 positions, E 4), preprocessing `clip-then-resize`, ANN
  side the random-weight CLIP folder `clip/official-ann` (written first by `python -m spikeclip_training.clip_fixtures`);
  otherwise as `tiny-official`. `training/tests/test_convert_official.py` writes official-format files (timm
  `CheckpointSaver` layout) from this model and checks that the converter gives back exactly this file's tensors.

Seeds were searched upward from 0 until every LIF layer fires at a mean rate in [{RATE_MIN}, {RATE_MAX}], the
smallest `|h - v_threshold|` over all neurons and steps of every LIF layer except `attn_lif` is >= {MIN_MARGIN}
(`min_threshold_margin`), outputs are not degenerate and each image's top-1 logit leads by >= {MIN_TOP1_GAP}.
`attn_lif` inputs are `0.125 *` integer spike-count products, so its charge is computed exactly in float32;
exact ties `h == 0.5` occur and must fire (`>=`); their count is `attn_lif_exact_ties`.

| fixture | seed | min margin | attn_lif ties | firing rates | model bytes | golden bytes |
|---|---|---|---|---|---|---|
{rows}

Regenerate (byte-identical output):

    PYTHONPATH=training python -m spikeclip_training.fixtures --out Tests/Fixtures

It also writes `energy.json` beside each golden file: the per-layer operation counts (MACs, ACs, neuron updates,
adds, multiplies, summed over steps) that `training/` computes from the golden spikes, which the engine must
reproduce (`EnergyFixtureTests`; `training/tests/test_energy_fixture.py` checks the Python side); alone:
`PYTHONPATH=training python -m spikeclip_training.energy_fixture Tests/Fixtures/tiny-default Tests/Fixtures/tiny-official Tests/Fixtures/official-import`.

Other folders, each from its own generator:

- `text/`: tokenizer corpus with Hugging Face ids and sentence-transformers MiniLM embeddings
  (`python -m spikeclip_training.text_fixtures --out Tests/Fixtures/text`);
- `images/`: decoder and preprocessing fixtures, malformed files, expected tensors
  (`python -m spikeclip_training.image_fixtures --out Tests/Fixtures/images`);
- `clip/`: CLIP tokenizer corpus, random-weight CLIP folders with golden features, CLIP preprocessing
  (`python -m spikeclip_training.clip_fixtures`; before this generator: `official-import` names `clip/official-ann`);
- `tiny-default/interventions.safetensors`: reference outputs and spikes under silencing, forcing, threshold scaling,
  cut time steps and input noise (`python -m spikeclip_training.intervention_fixtures`).
"""


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spikeclip_training.fixtures", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="output folder (e.g. Tests/Fixtures)")
    ap.add_argument("--only", action="append", choices=FIXTURES, help="generate only this fixture (repeatable)")
    ap.add_argument("--start-seed", type=int, default=0, help="first seed tried (default 0)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    log = (lambda s: None) if args.quiet else (lambda s: print(s, flush=True))
    names = args.only or list(FIXTURES)
    cands = []
    for name in names:
        c = search(name, args.start_seed)
        st_io.write_atomic(args.out / name / "model.safetensors", c.model_bytes, overwrite=True)
        st_io.write_atomic(args.out / name / "golden.safetensors", c.golden_bytes, overwrite=True)
        # The energy fixture the engine must match, from the golden spikes just written (energy_fixture.py).
        from . import energy_fixture
        energy = energy_fixture.serialize(energy_fixture.fixture_counts(args.out / name))
        st_io.write_atomic(args.out / name / "energy.json", energy, overwrite=True)
        cands.append(c)
        log(f"{name}: seed {c.seed}, min margin {c.min_margin:.3e} (attn_lif exact ties {c.attn_ties}), "
            f"model {len(c.model_bytes)} B, golden {len(c.golden_bytes)} B")
        for lname, r in c.rates.items():
            log(f"    {lname:<40s} rate {r:.3f}  margin {c.margins[lname]:.3e}")
    if not args.only:
        st_io.write_atomic(args.out / "README.md", readme_text(cands).encode(), overwrite=True)
    total = sum(len(c.model_bytes) + len(c.golden_bytes) for c in cands)
    log(f"total {total} bytes ({total / 2**20:.2f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
