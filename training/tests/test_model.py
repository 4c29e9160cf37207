import math

import pytest
import torch
import torch.nn.functional as F

from spikeclip_training.export import export_state_dict
from spikeclip_training.fixtures import _config
from spikeclip_training.model import AnnSelfAttention, SpikeCLIP, class_embeddings, lif_layers, zero_shot


def _cfg(name="tiny-default"):
    return _config(name, 0)


def _expected_keys(cfg):
    """docs/CHECKPOINT.md tensor table, expanded."""
    T, D, C = cfg.T, cfg.vision.embed_dims, cfg.vision.in_channels
    Dh = int(D * cfg.vision.mlp_ratios)
    td, E, L = cfg.vision.target_dim, cfg.text.embed_dim, cfg.text.context_length
    widths = [C, D // 8, D // 4, D // 2, D, D]
    bn = lambda p, n: {f"{p}.{s}": [n] for s in ("weight", "bias", "running_mean", "running_var")}
    k = {"vision.weights_tensor": [1, T, 1], "text.weights_tensor": [1, T, 1],
         "vision.proj.weight": [td, D], "vision.proj.bias": [td]}
    for pre in ("vision.patch_embed", "ann_vision.embeddings"):
        for j in range(5):
            k[f"{pre}.block{j}_conv.weight"] = [widths[j + 1], widths[j], 3, 3]
            k.update(bn(f"{pre}.block{j}_bn", widths[j + 1]))
    for i in range(cfg.vision.depths):
        a = f"vision.block.{i}.attn"
        for q in "qkv":
            k[f"{a}.{q}_conv.weight"] = [D, D, 1]
            k.update(bn(f"{a}.{q}_bn", D))
        k[f"{a}.proj_conv.weight"], k[f"{a}.proj_conv.bias"] = [D, D, 1], [D]
        k.update(bn(f"{a}.proj_bn", D))
        m = f"vision.block.{i}.mlp"
        k[f"{m}.mlp1_conv.weight"], k[f"{m}.mlp1_conv.bias"] = [Dh, D, 1, 1], [Dh]
        k[f"{m}.mlp2_conv.weight"], k[f"{m}.mlp2_conv.bias"] = [D, Dh, 1, 1], [D]
        k.update(bn(f"{m}.mlp1_bn", Dh))
        k.update(bn(f"{m}.mlp2_bn", D))
    e = cfg.text.embedding
    if e.kind == "bert":
        k["text.clip_embedding.word_embeddings.weight"] = [e.vocab_size, E]
        k["text.clip_embedding.position_embeddings.weight"] = [e.max_position_embeddings, E]
        k["text.clip_embedding.token_type_embeddings.weight"] = [e.type_vocab_size, E]
        k["text.clip_embedding.LayerNorm.weight"] = k["text.clip_embedding.LayerNorm.bias"] = [E]
    else:
        k["text.clip_embedding.token_embedding.weight"] = [e.vocab_size, E]
        k["text.clip_embedding.position_embedding.weight"] = [e.max_position_embeddings, E]
    H = cfg.text.hidden_dim
    k.update({"text.fc1.weight": [H, L * E], "text.fc1.bias": [H], "text.fc2.weight": [td, H], "text.fc2.bias": [td]})
    A = cfg.ann_vision.embed_dims
    Ah = int(A * cfg.ann_vision.mlp_ratios)
    for n in ("pre_layrnorm", "post_layernorm"):
        k[f"ann_vision.{n}.weight"] = k[f"ann_vision.{n}.bias"] = [A]
    for i in range(cfg.ann_vision.depths):
        p = f"ann_vision.encoder.layers.{i}"
        for q in ("q", "k", "v", "out"):
            k[f"{p}.self_attn.{q}_proj.weight"], k[f"{p}.self_attn.{q}_proj.bias"] = [A, A], [A]
        for n in ("layer_norm1", "layer_norm2"):
            k[f"{p}.{n}.weight"] = k[f"{p}.{n}.bias"] = [A]
        k[f"{p}.mlp.fc1.weight"], k[f"{p}.mlp.fc1.bias"] = [Ah, A], [Ah]
        k[f"{p}.mlp.fc2.weight"], k[f"{p}.mlp.fc2.bias"] = [A, Ah], [A]
    k["ann_vision.proj.weight"], k["ann_vision.proj.bias"] = [td, A], [td]
    return k


@pytest.mark.parametrize("name", ["tiny-default", "tiny-official"])
def test_state_dict_keys_match_checkpoint_table(name):
    cfg = _cfg(name)
    got = {k: list(v.shape) for k, v in export_state_dict(SpikeCLIP(cfg)).items()}
    assert got == _expected_keys(cfg)


def test_time_weights_init():
    w = SpikeCLIP(_cfg()).vision.weights_tensor
    assert w.shape == (1, 4, 1)
    assert torch.allclose(w.flatten(), torch.tensor([math.log(v) for v in (0.1, 0.2, 0.4, 0.8)]))


@pytest.mark.parametrize("name", ["tiny-default", "tiny-official"])
def test_recorded_spike_shapes_and_order_float64(name):
    cfg = _cfg(name)
    torch.manual_seed(0)
    model = SpikeCLIP(cfg).double().eval()
    B, P = 2, 6
    H, W = cfg.vision.image_size
    C, D = cfg.vision.in_channels, cfg.vision.embed_dims
    Dh, T, N = 4 * D, cfg.T, H * W // 16
    layers = lif_layers(model)
    for l in layers.values():
        l.record_spikes = True
    with torch.no_grad():
        out = model(torch.randn(B, C, H, W, dtype=torch.float64) * 3, torch.randint(0, 60, (P, 20)), 2)
    assert out["vision"].dtype == torch.float64 and out["vision"].shape == (B, cfg.vision.target_dim)
    assert out["text"].shape == (P, cfg.text.target_dim) and out["logits"].shape == (B, 3)
    want = {"vision.patch_embed.block1_lif": (T, B, D // 8, H, W),
            "vision.patch_embed.block2_lif": (T, B, D // 4, H, W),
            "vision.patch_embed.block3_lif": (T, B, D // 2, H // 2, W // 2),
            "vision.patch_embed.block4_lif": (T, B, D, H // 4, W // 4)}
    for i in range(cfg.vision.depths):
        a = f"vision.block.{i}"
        want[f"{a}.attn.proj_lif"] = (T, B, D, H // 4, W // 4)
        for q in ("q", "k", "v", "attn"):
            want[f"{a}.attn.{q}_lif"] = (T, B, D, N)
        want[f"{a}.mlp.mlp1_lif"] = (T, B, D, H // 4, W // 4)
        want[f"{a}.mlp.mlp2_lif"] = (T, B, Dh, H // 4, W // 4)
    want["text.mlp_lif1"] = (T, P, 20 * cfg.text.embed_dim)
    want["text.mlp_lif2"] = (T, P, cfg.text.hidden_dim)
    assert list(layers) == list(want)                       # forward order of CHECKPOINT.md
    assert {n: tuple(l.recorded_spikes.shape) for n, l in layers.items()} == want
    assert layers["vision.block.0.attn.attn_lif"].v_threshold == 0.5
    assert layers["vision.block.0.attn.q_lif"].v_threshold == 1.0


def test_spiking_attention_head_layout():
    """attn_lif's first charge = 0.5 * 0.125 * sum_m (q_h . k_h)[n, m] v[h*dh + j, m] (official layout)."""
    cfg = _cfg()
    torch.manual_seed(3)
    model = SpikeCLIP(cfg).double().eval()
    with torch.no_grad():                      # make q/k/v fire often
        for n in ("q_bn", "k_bn", "v_bn"):
            getattr(model.vision.block[0].attn, n).bias.fill_(2.0)
    layers = lif_layers(model)
    for l in layers.values():
        l.record_spikes, l.record_full_membrane = True, True
    with torch.no_grad():
        model.vision(torch.randn(2, 1, 28, 28, dtype=torch.float64) * 3)
    p = "vision.block.0.attn."
    q, k, v = (layers[p + f"{n}_lif"].recorded_spikes[0].double() for n in "qkv")   # [B, D, N]
    h = cfg.vision.num_heads
    B, D, N = q.shape
    dh = D // h
    qh, kh, vh = (z.reshape(B, h, dh, N) for z in (q, k, v))
    y = torch.einsum("bhin,bhim,bhjm->bhjn", qh, kh, vh).reshape(B, D, N) * 0.125
    assert float(q.mean()) > 0.1
    assert torch.equal(layers[p + "attn_lif"].recorded_membrane_full[0], 0.5 * y)


def test_ann_attention_matches_sdpa():
    torch.manual_seed(0)
    att = AnnSelfAttention(32, 4).double()
    x = torch.randn(2, 9, 32, dtype=torch.float64)
    split = lambda z: z.reshape(2, 9, 4, 8).transpose(1, 2)
    ref = F.scaled_dot_product_attention(split(att.q_proj(x)), split(att.k_proj(x)), split(att.v_proj(x)))
    ref = att.out_proj(ref.transpose(1, 2).reshape(2, 9, 32))
    assert torch.allclose(att(x), ref, atol=1e-12)


def test_zero_shot_hand_computed():
    img = torch.tensor([[3.0, 4.0]], dtype=torch.float64)          # normalised: (0.6, 0.8)
    text = torch.tensor([[2.0, 0.0], [0.0, 5.0],                   # class 0: templates -> (1,0), (0,1)
                         [0.0, -1.0], [0.0, -3.0]], dtype=torch.float64)  # class 1: (0,-1) twice
    out = zero_shot(img, text, num_templates=2, logit_scale=2.0)
    assert torch.allclose(out["class_embeddings"], torch.tensor([[0.5, 0.5], [0.0, -1.0]], dtype=torch.float64))
    assert torch.allclose(out["logits"], torch.tensor([[2.0 * 0.7, 2.0 * -0.8]], dtype=torch.float64))
    assert torch.allclose(out["probs"], torch.softmax(torch.tensor([[1.4, -1.6]], dtype=torch.float64), -1))
    assert out["top1"].tolist() == [0]
    with pytest.raises(ValueError):
        class_embeddings(text[:3], 2)


def test_text_encoder_rejects_wrong_length():
    model = SpikeCLIP(_cfg())
    with pytest.raises(ValueError, match="20"):
        model.text(torch.zeros(2, 21, dtype=torch.long))
