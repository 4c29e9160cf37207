"""The reference interventions (issue 17): masks, restoration, the committed golden file."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from spikeclip_training import intervention_fixtures as fx
from spikeclip_training.export import load_checkpoint
from spikeclip_training.interventions import (Intervention as I, InterventionSet, applied, gaussian_noise, run,
                                              target_mask)
from spikeclip_training.model import lif_layers

from conftest import FIXTURES_DIR


def test_masks_address_channels_heads_tokens_and_neurons():
    shape = (8, 4)                                      # [D, N]: 8 channels, 4 tokens
    assert target_mask(shape, "layer", 0, None).all()
    assert target_mask(shape, "channel", 3, None).nonzero().tolist() == [[3, j] for j in range(4)]
    assert target_mask(shape, "head", 1, 2)[4:].all() and not target_mask(shape, "head", 1, 2)[:4].any()
    assert target_mask(shape, "token", 2, None).nonzero().tolist() == [[c, 2] for c in range(8)]
    assert target_mask(shape, "neuron", 9, None).view(-1).nonzero().tolist() == [[9]]
    for target, index, heads in (("channel", 8, None), ("head", 0, None), ("token", 4, None), ("neuron", 32, None)):
        with pytest.raises(ValueError):
            target_mask(shape, target, index, heads)
    with pytest.raises(ValueError):
        target_mask((5,), "token", 0, None)


def test_interventions_apply_inside_the_block_only():
    model, _ = load_checkpoint(FIXTURES_DIR / "tiny-default" / "model.safetensors", dtype=torch.float64)
    g = load_file(str(FIXTURES_DIR / "tiny-default" / "golden.safetensors"))
    px, ids = g["input.pixel_values"].double(), g["input.token_ids"].long()
    before = run(model, px, ids, InterventionSet())
    q = lif_layers(model)["vision.block.0.attn.q_lif"]
    q.record_spikes = True
    silenced = run(model, px, ids, InterventionSet([I("vision.block.0.attn.q_lif", "silence")]))
    assert int(q.recorded_spikes.sum()) == 0
    assert not torch.equal(silenced["vision"], before["vision"]) and torch.equal(silenced["text"], before["text"])
    after = run(model, px, ids, InterventionSet())
    assert int(q.recorded_spikes.sum()) > 0, "restored after the block"
    assert torch.equal(after["vision"], before["vision"])
    with pytest.raises(ValueError):
        with applied(model, InterventionSet([I("vision.nope", "silence")])):
            pass
    # T steps cut: the readout of the first step only.
    one = run(model, px, ids, InterventionSet(steps=1))
    feats = model.vision.forward_features(px).transpose(0, 1)
    expected = model.vision.proj(feats[:, 0] * model.vision.weights_tensor[0, 0, 0])
    assert torch.allclose(one["vision"], expected, rtol=0, atol=1e-12)


def test_noise_is_seeded_standard_normal():
    a = gaussian_noise(20000, 7)
    assert np.array_equal(a, gaussian_noise(20000, 7)) and not np.array_equal(a[:10], gaussian_noise(10, 8))
    assert abs(a.mean()) < 0.03 and abs(a.var() - 1) < 0.05


def test_committed_interventions_fixture_matches_generator(tmp_path):
    out = tmp_path / "interventions.safetensors"
    assert fx.main(["--out", str(out)]) == 0
    assert out.read_bytes() == (FIXTURES_DIR / "tiny-default" / "interventions.safetensors").read_bytes()
