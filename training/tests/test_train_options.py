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
