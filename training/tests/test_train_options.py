"""Training options that change how the model is built (issue 16)."""
import dataclasses
from pathlib import Path

import torch

from spikeclip_training.configs import CONFIGS
from spikeclip_training.train import Run, build_model

REPO = Path(__file__).resolve().parents[2]


def test_embedding_norm_gain_scales_the_frozen_layernorm_and_can_train_it(tmp_path):
    base = build_model(Run(CONFIGS["smoke"], 0, tmp_path / "a", tmp_path / "cache", REPO / "assets", []))
    cfg = dataclasses.replace(CONFIGS["smoke"], embedding_norm_gain=3.0, train_embedding_norm=True)
    model = build_model(Run(cfg, 0, tmp_path / "b", tmp_path / "cache", REPO / "assets", []))
    a, b = base.text.clip_embedding.LayerNorm, model.text.clip_embedding.LayerNorm
    assert torch.allclose(b.weight, 3 * a.weight) and torch.allclose(b.bias, 3 * a.bias)
    assert not a.weight.requires_grad and b.weight.requires_grad and b.bias.requires_grad
    # the word embeddings stay frozen and equal either way
    we_a, we_b = base.text.clip_embedding.word_embeddings.weight, model.text.clip_embedding.word_embeddings.weight
    assert torch.equal(we_a, we_b) and not we_b.requires_grad


def test_overrides_from_reconstructs_the_set_arguments_of_a_run():
    # Regression: the RESULTS report printed the run's command without its --set overrides.
    from spikeclip_training.configs import CONFIGS, TrainConfig
    base = CONFIGS["open"]
    sets = ["embedding_norm_gain=3.0", "train_embedding_norm=true", "text_align.epochs=7"]
    cfg = base.with_overrides(sets)
    got = TrainConfig.from_dict(cfg.to_dict()).overrides_from(base)
    assert sorted(got) == sorted(sets)  # in field order
    assert base.with_overrides(got) == cfg
    assert base.overrides_from(base) == []


def test_corpus_templates_per_noun_puts_each_noun_in_distinct_templates():
    from spikeclip_training import text
    tl = text.TRAIN_TEMPLATES
    one = text.build_corpus(40, 0, tl, seed=0)
    # per_noun=1 is the corpus every earlier run trained on (same draws, same order): cached MiniLM targets stay valid
    assert one == text.build_corpus(40, 0, tl, seed=0, per_noun=1)
    two = text.build_corpus(40, 0, tl, seed=0, per_noun=2)
    assert len(two) == 40 and len(set(two)) == 40

    def noun(s):
        for t in tl:
            pre, post = t.split("{}")
            if s.startswith(pre) and s.endswith(post):
                return s[len(pre):len(s) - len(post)], t
        raise AssertionError(s)
    pairs = [noun(s) for s in two]
    nouns = [n for n, _ in pairs]
    # each noun twice, in two different templates, and the nouns in the order of the one-template corpus
    assert all(nouns.count(n) == 2 for n in nouns)
    assert all(len({t for m, t in pairs if m == n}) == 2 for n in nouns)
    assert list(dict.fromkeys(nouns)) == [noun(s)[0] for s in one][:20]


def test_signed_text_input_feeds_both_signs_and_round_trips(tmp_path):
    from spikeclip_training.config import SpikeCLIPConfig
    cfg = dataclasses.replace(CONFIGS["smoke"], text_signed_input=True)
    run = Run(cfg, 0, tmp_path / "s", tmp_path / "cache", REPO / "assets", [])
    model = build_model(run)
    enc = model.text
    L, E = enc.context_length, model.config.text.embed_dim
    assert enc.signed and enc.fc1.in_features == 2 * L * E
    ids = torch.randint(0, 100, (3, L))
    # the input LIF layer sees [e, -e] per position: record it and compare with the embedding
    enc.mlp_lif1.record_spikes = True
    with torch.no_grad():
        enc(ids)
        e = enc.clip_embedding(ids)
    spikes = enc.mlp_lif1.recorded_spikes                 # [T, P, L*2E]
    enc.mlp_lif1.record_spikes = False
    assert spikes.shape[-1] == 2 * L * E
    s = spikes.reshape(spikes.shape[0], 3, L, 2 * E)
    # the first step fires where the input is at least 2 (tau 2, threshold 1): e for the first half, -e for the second
    assert torch.equal(s[0, :, :, :E] > 0, e >= 2) and torch.equal(s[0, :, :, E:] > 0, -e >= 2)
    assert (s[..., E:] > 0).any(), "no negative value ever fired: the test would not see the second half"
    d = model.config.to_dict()
    assert d["text"]["embedding"]["signed"] is True
    assert SpikeCLIPConfig.from_dict(d).text.embedding.signed is True
    # the official layout writes no key at all (existing checkpoints and fixtures unchanged)
    plain = build_model(Run(CONFIGS["smoke"], 0, tmp_path / "p", tmp_path / "cache", REPO / "assets", []))
    assert "signed" not in plain.config.to_dict()["text"]["embedding"] and not plain.text.signed
