"""The CLIP tokenizer fixture (Tests/Fixtures/clip) is what its generator writes, and CLIP's vocabulary in assets/clip
is the open-clip-torch wheel's file (issue 13)."""

import json

from conftest import FIXTURES_DIR
from spikeclip_training import clip_fixtures


def test_committed_tokenizer_fixture_equals_regeneration():
    committed = json.loads((FIXTURES_DIR / "clip" / "tokenizer.json").read_text(encoding="utf-8"))
    assert committed == clip_fixtures.tokenizer_fixture()


def test_corpus_covers_the_acceptance_list():
    fx = json.loads((FIXTURES_DIR / "clip" / "tokenizer.json").read_text(encoding="utf-8"))
    texts = [c["text"] for c in fx["cases"]]
    assert len(texts) >= 400 and len(set(texts)) == len(texts)
    assert "" in texts and any(len(t) >= 300 for t in texts)
    assert any("&amp;" in t for t in texts) and any("'re" in t for t in texts) and any("  " in t for t in texts)
    assert any("\u4e00" <= ch <= "\u9fff" for t in texts for ch in t) and any(ord(ch) >= 0x1F300 for t in texts for ch in t)
    lengths = [len(c["full_ids"]) for c in fx["cases"]]
    for n in range(18, 23):
        assert lengths.count(n) >= 3, n                  # prompts of exactly 18-22 tokens around L = 20
    # Truncation keeps the end token; padding is <|endoftext|>.
    for c in fx["cases"]:
        assert c["ids"][0] == 49406 and len(c["ids"]) == fx["context_length"]
        assert 49407 in c["ids"]


def test_vocabulary_conversion_matches_the_reference_tokenizer_layout():
    merges = clip_fixtures.merges_from_gz(clip_fixtures.VOCAB_GZ)
    vocab = clip_fixtures.hf_vocab(merges)
    assert len(merges) == 48894 and len(vocab) == 49408
    assert vocab["<|startoftext|>"] == 49406 and vocab["<|endoftext|>"] == 49407
    assert vocab["!"] == 0 and vocab["a</w>"] == 256 + 64


def test_model_and_preprocessing_fixtures_regenerate(tmp_path):
    import torch
    from safetensors import safe_open

    clip_fixtures.model_fixture("tiny", tmp_path)
    clip_fixtures.preprocess_fixture(tmp_path)
    for rel in ["tiny/golden.safetensors", "tiny/model.safetensors", "images/expected.safetensors"]:
        with safe_open(str(FIXTURES_DIR / "clip" / rel), "pt") as a, safe_open(str(tmp_path / rel), "pt") as b:
            assert sorted(a.keys()) == sorted(b.keys()), rel
            for k in a.keys():
                assert torch.equal(a.get_tensor(k), b.get_tensor(k)), f"{rel}: {k}"
    committed = json.loads((FIXTURES_DIR / "clip" / "tiny" / "config.json").read_text())
    fresh = json.loads((tmp_path / "tiny" / "config.json").read_text())
    # The writer's version stamp is provenance, not content: a fresh machine may get a newer transformers from PyPI
    # (5.24 -> 5.25 failed this test with identical tensors and settings).
    for config in (committed, fresh):
        config.pop("transformers_version", None)
    assert committed == fresh
