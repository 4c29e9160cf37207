"""The text fixtures (Tests/Fixtures/text) and the MiniLM asset (assets/minilm) are what their generators write."""

import hashlib
import json
import re

import torch
from safetensors import safe_open

from conftest import FIXTURES_DIR, REPO
from spikeclip_training import minilm_asset, text_fixtures

TEXT_DIR = FIXTURES_DIR / "text"
ASSET_DIR = REPO / "assets" / "minilm"


def _read(path):
    with safe_open(str(path), framework="pt") as f:
        return f.metadata(), {k: f.get_tensor(k) for k in f.keys()}


def test_committed_tokenizer_fixture_equals_regeneration():
    committed = json.loads((TEXT_DIR / "tokenizer.json").read_text(encoding="ascii"))
    assert committed == text_fixtures.tokenizer_fixture()


def test_tokenizer_fixture_covers_the_acceptance_corpus():
    fx = json.loads((TEXT_DIR / "tokenizer.json").read_text(encoding="ascii"))
    texts = [c["text"] for c in fx["cases"]]
    assert len(texts) >= 300 and len(set(texts)) == len(texts)
    assert "" in texts
    assert any(len(t) > 100 and " " not in t for t in texts)                    # long word -> [UNK]
    assert any("\x00" in t for t in texts) and any("\t" in t for t in texts)
    assert any("  " in t for t in texts)
    assert any("\u4e00" <= ch <= "\u9fff" for t in texts for ch in t)          # CJK
    assert any(ord(ch) >= 0x1F300 for t in texts for ch in t)                  # emoji
    assert any(ch in "éüñ" for t in texts for ch in t)                         # accents
    assert any("a photo of a T-shirt/top." == t for t in texts)
    L = fx["context_length"]
    assert sum(len(c["full_ids"]) > L for c in fx["cases"]) >= 5               # truncation exercised
    for c in fx["cases"]:
        assert len(c["ids"]) == L and c["ids"][0] == 101
        n = min(len(c["full_ids"]), L)
        assert c["ids"][n - 1] == 102 and all(i == 0 for i in c["ids"][n:])    # [SEP] kept, [PAD] after
        assert c["ids"][: n - 1] == c["full_ids"][: n - 1]
    assert fx["vocab_sha256"] == hashlib.sha256((ASSET_DIR / "vocab.txt").read_bytes()).hexdigest()


def test_committed_embeddings_equal_regeneration():
    meta, committed = _read(TEXT_DIR / "embeddings.safetensors")
    tensors, fresh_meta = text_fixtures.embedding_fixture()
    assert meta == fresh_meta
    assert set(committed) == set(tensors) == {"embedding", "input_ids", "length"}
    assert torch.equal(committed["input_ids"], tensors["input_ids"])
    assert torch.equal(committed["length"], tensors["length"])
    # Bit-identical on the machine that wrote them; other CPUs' BLAS kernels may differ in the last bits.
    assert torch.allclose(committed["embedding"], tensors["embedding"], rtol=0, atol=1e-6)
    prompts = json.loads(meta["prompts"])
    assert len(prompts) >= 100 and committed["embedding"].shape == (len(prompts), 384)
    assert torch.allclose(committed["embedding"].norm(dim=1), torch.ones(len(prompts)), atol=1e-5)


def test_text_fixtures_are_small():
    files = [p for p in TEXT_DIR.rglob("*") if p.is_file()]
    assert sorted(p.name for p in files) == ["embeddings.safetensors", "tokenizer.json"]
    assert sum(p.stat().st_size for p in files) < 2**20


def test_minilm_asset_regenerates_byte_identical(tmp_path):
    assert minilm_asset.main(["--out", str(tmp_path), "--quiet"]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(p.name for p in ASSET_DIR.iterdir()) == ["LICENSE", "README.md", "model.f16.safetensors", "vocab.txt"]
    for name in names:
        assert (tmp_path / name).read_bytes() == (ASSET_DIR / name).read_bytes(), name


def test_minilm_asset_readme_records_sha256_and_licence_is_apache():
    readme = (ASSET_DIR / "README.md").read_text()
    for name in ("model.f16.safetensors", "vocab.txt", "LICENSE"):
        digest = hashlib.sha256((ASSET_DIR / name).read_bytes()).hexdigest()
        assert re.search(rf"\| `{re.escape(name)}` \| \d+ \| `{digest}` \|", readme), name
    assert "Apache License" in (ASSET_DIR / "LICENSE").read_text() and "Version 2.0" in (ASSET_DIR / "LICENSE").read_text()


def test_minilm_asset_is_the_model_in_f16():
    meta, asset = _read(ASSET_DIR / "model.f16.safetensors")
    assert meta["format"] == "spikeclip-ann-text" and meta["format_version"] == "1"
    cfg = json.loads(meta["config"])
    assert (cfg["num_hidden_layers"], cfg["num_attention_heads"], cfg["hidden_size"], cfg["intermediate_size"]) == (6, 12, 384, 1536)
    _, source = _read(minilm_asset.source()[0] / "model.safetensors")
    expected = {"ann_text." + k for k in source if k not in minilm_asset.DROPPED}
    assert set(asset) == expected
    for k, v in asset.items():
        ref = source[k[len("ann_text."):]]
        assert v.dtype == torch.float16 and v.shape == ref.shape, k
        assert torch.equal(v, ref.to(torch.float16)), k
