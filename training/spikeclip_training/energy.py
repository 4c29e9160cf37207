"""Energy accounting from recorded spikes (SPEC section 4), the same counts as ``Sources/SpikeCLIP/Energy.swift``.

Paper convention: ``E = 4.6 pJ x MACs + 0.9 pJ x ACs`` (Horowitz ISSCC 2014, 45 nm, FP32). Fuller estimate: paper +
6.4 pJ per LIF neuron update per step + 0.9 pJ per real add/compare (residuals, biases, max-pool compares, pooling)
+ 3.7 pJ per multiply outside a MAC (attention scale, time weighting); memory traffic not modelled.
See docs/DECISIONS.md ("energy counts executed operations") for what is counted.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor

from .config import SpikeCLIPConfig, mlp_hidden

MAC_PJ, AC_PJ, ADD_PJ, MUL_PJ = 4.6, 0.9, 0.9, 3.7
NEURON_PJ = MUL_PJ + 3 * ADD_PJ          # 6.4 pJ: charge (2 adds, 1 multiply) + threshold compare
CONSTANTS = {"mac_pJ": MAC_PJ, "ac_pJ": AC_PJ, "add_pJ": ADD_PJ, "multiply_pJ": MUL_PJ, "neuron_update_pJ": NEURON_PJ,
             "source": "Horowitz ISSCC 2014, 45 nm, FP32"}


def _reach(n: int) -> Tensor:
    """Outputs one input position reaches along an axis of size ``n`` in a 3x3/stride 1/pad 1 conv ``[n]``."""
    i = torch.arange(n)
    return (torch.clamp(i + 1, max=n - 1) - torch.clamp(i - 1, min=0) + 1).double()


def conv3_dense_macs(cin: int, cout: int, h: int, w: int) -> float:
    """Dense MACs of a 3x3/stride 1/pad 1 conv on an ``h x w`` map, padding taps excluded."""
    return float(cin * cout * _reach(h).sum() * _reach(w).sum())


class Totals:
    """Per-item operation totals (summed over steps and layers): ``macs, acs, neurons, adds, muls`` ``[B]``."""

    def __init__(self, B: int):
        z = lambda: torch.zeros(B, dtype=torch.float64)
        self.macs, self.acs, self.neurons, self.adds, self.muls = z(), z(), z(), z(), z()

    def paper_pj(self) -> Tensor:
        return MAC_PJ * self.macs + AC_PJ * self.acs

    def fuller_pj(self) -> Tensor:
        return self.paper_pj() + NEURON_PJ * self.neurons + ADD_PJ * self.adds + MUL_PJ * self.muls


KINDS = ("macs", "acs", "neuron_updates", "adds", "multiplies")


class Layers(dict):
    """Per-layer operation counts summed over time steps, in forward order, with the names and split of
    ``EnergyAccounting`` (Energy.swift): ``layers[name][kind]`` ``[B]`` float64, ``kind`` in ``KINDS``."""

    def __init__(self, B: int):
        super().__init__()
        self.B = B

    def add(self, name: str, **counts) -> None:
        entry = self.setdefault(name, {k: torch.zeros(self.B, dtype=torch.float64) for k in KINDS})
        for k, v in counts.items():
            entry[k] = entry[k] + v

    def totals(self) -> Totals:
        tot = Totals(self.B)
        for entry in self.values():
            tot.macs += entry["macs"]
            tot.acs += entry["acs"]
            tot.neurons += entry["neuron_updates"]
            tot.adds += entry["adds"]
            tot.muls += entry["multiplies"]
        return tot


def vision_layers(spikes: Mapping[str, Tensor], cfg: SpikeCLIPConfig) -> Layers:
    """Per-layer operation counts of the spiking image encoder for every batch item, from recorded spikes
    (``spikes[name]`` ``[T, B, ...]`` uint8, names as ``lif_layers``). Mirrors ``EnergyAccounting.vision``."""
    v, T = cfg.vision, cfg.T
    D, (H, W) = v.embed_dims, v.image_size
    B = spikes["vision.patch_embed.block1_lif"].shape[1]
    ops = Layers(B)
    pe = "vision.patch_embed."
    reach = lambda s: _reach(s.shape[-2])[:, None] * _reach(s.shape[-1])[None, :]
    ops.add(pe + "block0_conv", macs=T * conv3_dense_macs(v.in_channels, D // 8, H, W), adds=T * (D // 8) * H * W)
    # Forward order (the engine's LayerGraph): lif, conv fed by it, with the max pools before block3/block4 LIFs.
    for j, cout in ((1, D // 4), (2, D // 2), (3, D), (4, D)):
        s = spikes[f"{pe}block{j}_lif"].double()                           # [T, B, C, h, w]
        per_item = s[0, 0].numel()
        if j in (3, 4):
            ops.add(f"{pe}block{j}_mp", adds=T * per_item * 8)              # 3x3 max-pool compares per output
        ops.add(f"{pe}block{j}_lif", neuron_updates=T * per_item)
        h, w = s.shape[-2:]
        ops.add(f"{pe}block{j}_conv", acs=(s * reach(s)).sum(dim=(0, 2, 3, 4)) * cout, adds=T * cout * h * w)
    Dh, heads = mlp_hidden(D, v.mlp_ratios), v.num_heads
    for i in range(v.depths):
        a, m = f"vision.block.{i}.attn.", f"vision.block.{i}.mlp."
        proj, q, k, vv, attn = (spikes[a + n].double() for n in ("proj_lif", "q_lif", "k_lif", "v_lif", "attn_lif"))
        m1, m2 = spikes[m + "mlp1_lif"].double(), spikes[m + "mlp2_lif"].double()
        n = q.shape[-1]
        cnt = lambda x: x.flatten(2).sum(2).sum(0)                          # [B]
        neurons = lambda x: T * x[0, 0].numel()
        ops.add(a + "proj_lif", neuron_updates=neurons(proj))
        for conv, lif in (("q_conv", q), ("k_conv", k), ("v_conv", vv)):
            ops.add(a + conv, acs=cnt(proj) * D, adds=T * D * n)              # adds: the folded BatchNorm bias
            ops.add(a + conv.replace("_conv", "_lif"), neuron_updates=neurons(lif))
        split = lambda x: x.reshape(T, B, heads, D // heads, n)           # [T, B, h, hd, N]
        qh, kh, vh = split(q), split(k), split(vv)
        ops.add(a + "qk", acs=(qh.sum(-1) * kh.sum(-1)).sum(dim=(0, 2, 3)))  # q @ k^T: sum_d cq[d] ck[d]
        nz = (qh.transpose(-2, -1) @ kh) > 0                                 # [T, B, h, N, N] nonzero attn
        vcount = vh.sum(-2)                                                  # [T, B, h, N] spikes of v[j]
        ops.add(a + "av", acs=(nz.double() * vcount[..., None, :]).sum(dim=(0, 2, 3, 4)), multiplies=T * D * n)
        ops.add(a + "attn_lif", neuron_updates=neurons(attn))
        ops.add(a + "proj_conv", acs=cnt(attn) * D, adds=T * D * n)
        ops.add(a + "residual", adds=T * D * n)
        ops.add(m + "mlp1_lif", neuron_updates=neurons(m1))
        ops.add(m + "mlp1_conv", acs=cnt(m1) * Dh, adds=T * Dh * n)
        ops.add(m + "mlp2_lif", neuron_updates=neurons(m2))
        ops.add(m + "mlp2_conv", acs=cnt(m2) * D, adds=T * D * n)
        ops.add(m + "residual", adds=T * D * n)
    n = (H // 4) * (W // 4)
    ops.add("vision.readout", adds=T * D * n, multiplies=T * 2 * D)
    ops.add("vision.proj", macs=D * v.target_dim, adds=v.target_dim)
    return ops


def vision_ops(spikes: Mapping[str, Tensor], cfg: SpikeCLIPConfig) -> Totals:
    """Operation totals of the spiking image encoder for every batch item (the sum of ``vision_layers``)."""
    return vision_layers(spikes, cfg).totals()


def text_layers(spikes: Mapping[str, Tensor], cfg: SpikeCLIPConfig) -> Layers:
    """Per-layer operation counts of the spiking text encoder for every prompt. Mirrors ``EnergyAccounting.text``."""
    t, T = cfg.text, cfg.T
    l1, l2 = spikes["text.mlp_lif1"].double(), spikes["text.mlp_lif2"].double()   # [T, P, ...]
    ops = Layers(l1.shape[1])
    el = t.context_length * t.embed_dim
    bert = t.embedding.kind == "bert"
    ops.add("text.clip_embedding", adds=el * (2 if bert else 1), multiplies=2 * el if bert else 0)
    ops.add("text.mlp_lif1", neuron_updates=T * l1[0, 0].numel())
    ops.add("text.fc1", acs=l1.sum(dim=(0, 2)) * t.hidden_dim, adds=T * t.hidden_dim)
    ops.add("text.mlp_lif2", neuron_updates=T * l2[0, 0].numel())
    ops.add("text.fc2", acs=l2.sum(dim=(0, 2)) * t.target_dim, adds=T * t.target_dim)
    ops.add("text.readout", multiplies=T * t.target_dim, adds=T * t.target_dim)
    return ops


def text_ops(spikes: Mapping[str, Tensor], cfg: SpikeCLIPConfig) -> Totals:
    """Operation totals of the spiking text encoder for every prompt (the sum of ``text_layers``)."""
    return text_layers(spikes, cfg).totals()


def ann_vision_layers(cfg: SpikeCLIPConfig) -> Layers:
    """Dense per-layer operation counts of the ANN twin for one image. Mirrors ``EnergyAccounting.annVision``."""
    a, v = cfg.ann_vision, cfg.vision
    d, dh = a.embed_dims, mlp_hidden(a.embed_dims, a.mlp_ratios)
    H, W = v.image_size
    n, dd = float((H // 4) * (W // 4)), float(d)
    ops = Layers(1)
    chans = [v.in_channels, d // 8, d // 4, d // 2, d, d]
    sizes = [(H, W), (H, W), (H, W), (H // 2, W // 2), (H // 4, W // 4)]
    for j in range(5):
        ch, cw = sizes[j]
        cout = chans[j + 1]
        pool = cout * ((ch - 1) // 2 + 1) * ((cw - 1) // 2 + 1) * 8 if j in (2, 3) else 0
        ops.add(f"ann_vision.embeddings.block{j}_conv", macs=conv3_dense_macs(chans[j], cout, ch, cw), adds=cout * ch * cw + pool)
    ops.add("ann_vision.pre_layrnorm", macs=2 * n * dd)
    for i in range(a.depths):
        p = f"ann_vision.encoder.layers.{i}."
        ops.add(p + "self_attn", macs=4 * n * dd * dd + 2 * n * n * dd + a.num_heads * n * n + 2 * n * dd, adds=4 * n * dd + n * dd)
        ops.add(p + "mlp", macs=2 * n * dd * dh + n * dh + 2 * n * dd, adds=n * dh + n * dd + n * dd)
    ops.add("ann_vision.post_layernorm", macs=2 * dd, adds=n * dd)
    ops.add("ann_vision.proj", macs=dd * a.target_dim, adds=a.target_dim)
    return ops


def ann_vision_ops(cfg: SpikeCLIPConfig) -> Totals:
    """Dense operation totals of the ANN twin for one image (the sum of ``ann_vision_layers``)."""
    return ann_vision_layers(cfg).totals()
