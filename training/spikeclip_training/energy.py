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


def vision_ops(spikes: Mapping[str, Tensor], cfg: SpikeCLIPConfig) -> Totals:
    """Operation counts of the spiking image encoder for every batch item, from recorded spikes
    (``spikes[name]`` ``[T, B, ...]`` uint8, names as ``lif_layers``). Mirrors ``EnergyAccounting.vision``."""
    v, T = cfg.vision, cfg.T
    D, (H, W) = v.embed_dims, v.image_size
    B = spikes["vision.patch_embed.block1_lif"].shape[1]
    tot = Totals(B)
    tot.macs += T * conv3_dense_macs(v.in_channels, D // 8, H, W)
    tot.adds += T * (D // 8) * H * W
    for j, lif, cout in ((1, "block1_lif", D // 4), (2, "block2_lif", D // 2), (3, "block3_lif", D), (4, "block4_lif", D)):
        s = spikes[f"vision.patch_embed.{lif}"].double()                  # [T, B, C, h, w]
        h, w = s.shape[-2:]
        reach = _reach(h)[:, None] * _reach(w)[None, :]
        tot.acs += (s * reach).sum(dim=(0, 2, 3, 4)) * cout
        tot.adds += T * cout * h * w
        per_item = s[0, 0].numel()
        tot.neurons += T * per_item
        if lif in ("block3_lif", "block4_lif"):
            tot.adds += T * per_item * 8                                   # 3x3 max-pool compares
    Dh, heads = mlp_hidden(D, v.mlp_ratios), v.num_heads
    for i in range(v.depths):
        a, m = f"vision.block.{i}.attn.", f"vision.block.{i}.mlp."
        proj, q, k, vv, attn = (spikes[a + n].double() for n in ("proj_lif", "q_lif", "k_lif", "v_lif", "attn_lif"))
        m1, m2 = spikes[m + "mlp1_lif"].double(), spikes[m + "mlp2_lif"].double()
        n = q.shape[-1]
        cnt = lambda x: x.flatten(2).sum(2).sum(0)                          # [B]
        tot.acs += 3 * cnt(proj) * D + cnt(attn) * D
        tot.adds += 4 * T * D * n
        # [T, B, h, hd, N]
        split = lambda x: x.reshape(T, B, heads, D // heads, n)
        qh, kh, vh = split(q), split(k), split(vv)
        tot.acs += (qh.sum(-1) * kh.sum(-1)).sum(dim=(0, 2, 3))             # q @ k^T: sum_d cq[d] ck[d]
        nz = (qh.transpose(-2, -1) @ kh) > 0                                 # [T, B, h, N, N] nonzero attn
        vcount = vh.sum(-2)                                                  # [T, B, h, N] spikes of v[j]
        tot.acs += (nz.double() * vcount[..., None, :]).sum(dim=(0, 2, 3, 4))
        tot.muls += T * D * n                                                # the 0.125 scale
        tot.acs += cnt(m1) * Dh + cnt(m2) * D
        tot.adds += T * (Dh * n + D * n)
        for x in (proj, q, k, vv, attn, m1, m2):
            tot.neurons += T * x[0, 0].numel()
        tot.adds += T * 2 * D * n                                            # residual adds
    n = (H // 4) * (W // 4)
    tot.adds += T * D * n
    tot.muls += T * 2 * D
    tot.macs += D * v.target_dim
    tot.adds += v.target_dim
    return tot


def text_ops(spikes: Mapping[str, Tensor], cfg: SpikeCLIPConfig) -> Totals:
    """Operation counts of the spiking text encoder for every prompt. Mirrors ``EnergyAccounting.text``."""
    t, T = cfg.text, cfg.T
    l1, l2 = spikes["text.mlp_lif1"].double(), spikes["text.mlp_lif2"].double()   # [T, P, ...]
    P = l1.shape[1]
    tot = Totals(P)
    el = t.context_length * t.embed_dim
    bert = t.embedding.kind == "bert"
    tot.adds += el * (2 if bert else 1)
    if bert:
        tot.muls += 2 * el
    tot.acs += l1.sum(dim=(0, 2)) * t.hidden_dim + l2.sum(dim=(0, 2)) * t.target_dim
    tot.adds += T * (t.hidden_dim + t.target_dim) + T * t.target_dim
    tot.neurons += T * (l1[0, 0].numel() + l2[0, 0].numel())
    tot.muls += T * t.target_dim
    return tot


def ann_vision_ops(cfg: SpikeCLIPConfig) -> Totals:
    """Dense operation counts of the ANN twin for one image. Mirrors ``EnergyAccounting.annVision``."""
    a, v = cfg.ann_vision, cfg.vision
    d, dh = a.embed_dims, mlp_hidden(a.embed_dims, a.mlp_ratios)
    H, W = v.image_size
    n, dd = float((H // 4) * (W // 4)), float(d)
    tot = Totals(1)
    chans = [v.in_channels, d // 8, d // 4, d // 2, d, d]
    sizes = [(H, W), (H, W), (H, W), (H // 2, W // 2), (H // 4, W // 4)]
    for j in range(5):
        ch, cw = sizes[j]
        cout = chans[j + 1]
        tot.macs += conv3_dense_macs(chans[j], cout, ch, cw)
        tot.adds += cout * ch * cw + (cout * ((ch - 1) // 2 + 1) * ((cw - 1) // 2 + 1) * 8 if j in (2, 3) else 0)
    tot.macs += 2 * n * dd
    for _ in range(a.depths):
        tot.macs += 4 * n * dd * dd + 2 * n * n * dd + a.num_heads * n * n + 2 * n * dd
        tot.adds += 4 * n * dd + n * dd
        tot.macs += 2 * n * dd * dh + n * dh + 2 * n * dd
        tot.adds += n * dh + n * dd + n * dd
    tot.macs += 2 * dd
    tot.adds += n * dd
    tot.macs += dd * a.target_dim
    tot.adds += a.target_dim
    return tot
