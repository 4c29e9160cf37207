import json

import pytest
import torch
from safetensors import safe_open

from conftest import FIXTURES_DIR
from spikeclip_training import fixtures
from spikeclip_training.export import load_checkpoint
from spikeclip_training.model import lif_layers


def _read(path):
    with safe_open(str(path), framework="pt") as f:
        return f.metadata(), {k: f.get_tensor(k) for k in f.keys()}


def test_generation_is_deterministic(tmp_path):
    for d in ("a", "b"):
        assert fixtures.main(["--out", str(tmp_path / d), "--only", "tiny-default", "--quiet"]) == 0
    for f in ("model.safetensors", "golden.safetensors"):
        a, b = (tmp_path / d / "tiny-default" / f for d in ("a", "b"))
        assert a.stat().st_size > 10_000
        assert a.read_bytes() == b.read_bytes()


def test_committed_fixtures_match_generator(tmp_path):
    assert fixtures.main(["--out", str(tmp_path), "--quiet"]) == 0
    produced = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    # Only the folders this generator owns (other generators write text/ and images/ beside them).
    committed = sorted(
        p.relative_to(FIXTURES_DIR) for name in fixtures.FIXTURES for p in (FIXTURES_DIR / name).rglob("*")
        if p.is_file() and p.name != "interventions.safetensors")          # intervention_fixtures writes that one
    assert sorted(r for r in produced if r.parts[0] in fixtures.FIXTURES) == committed
    for rel in produced:
        assert (tmp_path / rel).read_bytes() == (FIXTURES_DIR / rel).read_bytes(), str(rel)
    total = sum((FIXTURES_DIR / rel).stat().st_size for rel in committed)
    # 2.5 MiB of it is official-import (CLIP's 49,408-token vocabulary cannot shrink; docs/DECISIONS.md).
    assert total < 6 * 2**20


@pytest.mark.parametrize("name", fixtures.FIXTURES)
def test_committed_fixture_contents(name):
    meta, g = _read(FIXTURES_DIR / name / "golden.safetensors")
    assert meta["fixture_format"] == "spikeclip-golden" and meta["fixture_version"] == "1"
    K, M = int(meta["num_classes"]), int(meta["num_templates"])
    assert float(meta["min_threshold_margin"]) >= 1e-5
    model, cfg = load_checkpoint(FIXTURES_DIR / name / "model.safetensors", dtype=torch.float64)
    assert json.loads(cfg.to_json())["provenance"]["seed"] == int(meta["seed"])
    pixels, ids = g["input.pixel_values"], g["input.token_ids"]
    assert pixels.dtype == torch.float32 and ids.dtype == torch.int32 and ids.shape == (K * M, 20)
    tok = cfg.tokenizer                                              # one prompt fills all L (CLIP: end id == pad id)
    full = (ids[:, -1] != tok.pad_id) | ((ids[:, -1] == tok.sep_id) & (ids[:, -2] != tok.pad_id))
    assert full.sum() >= 1
    layers = lif_layers(model)
    for n, l in layers.items():
        assert g[f"membrane_index.{n}"].dtype == torch.int32 and g[f"membrane.{n}"].shape == (cfg.T, 4)
        l.record_spikes, l.record_full_membrane = True, True
        l.membrane_index = g[f"membrane_index.{n}"].long()
    with torch.no_grad():
        out = model(pixels.double(), ids.long(), num_templates=M)
    margin = float("inf")
    for n, l in layers.items():
        s = g[f"spikes.{n}"]
        assert s.dtype == torch.uint8 and torch.equal(l.recorded_spikes, s), n
        assert 0.03 <= float(s.double().mean()) <= 0.6, n
        assert torch.equal(l.recorded_membrane.float(), g[f"membrane.{n}"]), n
        if not n.endswith("attn_lif"):
            margin = min(margin, float((l.recorded_membrane_full - l.v_threshold).abs().min()))
    assert repr(margin) == meta["min_threshold_margin"]
    assert ("ann_vision" in out) == (cfg.ann_vision is not None) == ("output.ann_vision" in g)
    for k in [k for k in ("vision", "text", "ann_vision", "class_embeddings", "logits", "probs") if k in out]:
        assert g[f"output.{k}"].dtype == torch.float32
        assert torch.equal(out[k].float(), g[f"output.{k}"]), k
    assert torch.equal(out["top1"].int(), g["output.top1"])

    # A float32 run (what the Swift engine does) reproduces every spike.
    m32, _ = load_checkpoint(FIXTURES_DIR / name / "model.safetensors")
    for l in lif_layers(m32).values():
        l.record_spikes = True
    with torch.no_grad():
        o32 = m32(pixels, ids.long(), num_templates=M)
    for n, l in lif_layers(m32).items():
        assert torch.equal(l.recorded_spikes, g[f"spikes.{n}"]), n
    assert torch.allclose(o32["logits"], g["output.logits"], atol=1e-4)
