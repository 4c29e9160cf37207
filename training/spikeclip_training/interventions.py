"""Interventions on the spiking forward pass (issue 17): the reference the Swift engine must match.

An intervention is plain data naming a LIF layer (by its recording name, ``vision.block.0.attn.q_lif``), a target
inside it and an action:

- targets: the whole ``layer``; ``channel`` c (the first per-item dimension: a conv channel, or a q/k/v feature);
  ``head`` h (channels ``h*D/heads .. (h+1)*D/heads - 1`` of a layer inside a transformer block); ``token`` p (spatial
  position p of every channel, ``p = y * W + x`` on the token grid or the image); ``neuron`` j (flat index in the
  per-item tensor);
- actions: ``silence`` (the target's spikes are 0 at every step) and ``force`` (1 at every step) act on the layer's
  output: the neurons' own membranes evolve as without the intervention (membrane traces show that), and every layer
  downstream sees the changed spikes; ``threshold`` multiplies ``v_threshold`` of the layer (``layer = "*"``: of
  every layer) by ``scale``, which changes the dynamics themselves.

Two whole-pass settings complete the set: ``steps`` (stop after t < T steps: the time-weighted readout sums the first
``steps`` steps; the network is causal in time, so this equals running ``steps`` steps) and ``noise`` (a seeded
Gaussian ``std * N(0, 1)`` added to the preprocessed pixels, from a counter-based generator both implementations
compute identically: SplitMix64 of ``seed`` and the element index, Box-Muller in float64).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from .lif import LIF
from .model import SpikeCLIP, lif_layers

TARGETS = ("layer", "channel", "head", "token", "neuron")
ACTIONS = ("silence", "force", "threshold")


@dataclass(frozen=True)
class Intervention:
    layer: str
    action: str
    target: str = "layer"
    index: int = 0
    scale: float = 1.0

    def to_dict(self) -> dict:
        d = {"layer": self.layer, "action": self.action, "target": self.target}
        if self.target != "layer":
            d["index"] = self.index
        if self.action == "threshold":
            d["scale"] = self.scale
        return d


@dataclass
class InterventionSet:
    items: list = field(default_factory=list)
    steps: Optional[int] = None
    noise_std: float = 0.0
    noise_seed: int = 0

    def to_dict(self) -> dict:
        d: dict = {"interventions": [i.to_dict() for i in self.items]}
        if self.steps is not None:
            d["steps"] = self.steps
        if self.noise_std:
            d["noise"] = {"std": self.noise_std, "seed": self.noise_seed}
        return d


def target_mask(item_shape: tuple, target: str, index: int, heads: Optional[int]) -> Tensor:
    """Boolean mask over one item's neurons (``item_shape`` = the per-step, per-item shape) for ``target``.

    Raises ``ValueError`` for an index out of range or a target the layer does not have."""
    n = int(np.prod(item_shape))
    mask = torch.zeros(item_shape, dtype=torch.bool)
    if target == "layer":
        mask[...] = True
    elif target == "neuron":
        if not 0 <= index < n:
            raise ValueError(f"neuron {index} out of range 0..{n - 1}")
        mask.view(-1)[index] = True
    elif target == "channel":
        if not 0 <= index < item_shape[0]:
            raise ValueError(f"channel {index} out of range 0..{item_shape[0] - 1}")
        mask[index] = True
    elif target == "head":
        if heads is None:
            raise ValueError("head targets need a layer inside a transformer block")
        if not 0 <= index < heads:
            raise ValueError(f"head {index} out of range 0..{heads - 1}")
        per = item_shape[0] // heads
        mask[index * per:(index + 1) * per] = True
    elif target == "token":
        if len(item_shape) < 2:
            raise ValueError("token targets need a layer with positions")
        positions = int(np.prod(item_shape[1:]))
        if not 0 <= index < positions:
            raise ValueError(f"token {index} out of range 0..{positions - 1}")
        mask.view(item_shape[0], positions)[:, index] = True
    else:
        raise ValueError(f"unknown target {target!r}")
    return mask


def _heads_of(name: str, model: SpikeCLIP) -> Optional[int]:
    return model.config.vision.num_heads if name.startswith("vision.block.") else None


class _Hooked:
    """Per-layer state while an intervention set is active: threshold scale and output overrides."""

    def __init__(self):
        self.scale = 1.0
        self.overrides: list = []           # (target, index, value 0/1, heads)


def _patched_forward(lif: LIF, state: _Hooked, original):
    def forward(x: Tensor) -> Tensor:
        base = lif.v_threshold
        lif.v_threshold = base * state.scale
        try:
            out = original(x)
        finally:
            lif.v_threshold = base
        if state.overrides:
            out = out.clone()
            item_shape = tuple(out.shape[2:])
            for target, index, value, heads in state.overrides:
                m = target_mask(item_shape, target, index, heads).to(out.device)
                out[:, :, m] = value
            if lif.record_spikes:
                lif.recorded_spikes = out.detach().to(torch.uint8)
        return out
    return forward


@contextlib.contextmanager
def applied(model: SpikeCLIP, interventions: InterventionSet):
    """Applies the layer interventions of ``interventions`` to ``model`` inside the ``with`` block.

    Raises ``ValueError`` for an unknown layer, action or target."""
    layers = lif_layers(model)
    states = {name: _Hooked() for name in layers}
    for iv in interventions.items:
        if iv.action not in ACTIONS or iv.target not in TARGETS:
            raise ValueError(f"unknown action/target {iv.action!r}/{iv.target!r}")
        names = list(layers) if iv.layer == "*" else [iv.layer]
        for name in names:
            if name not in layers:
                raise ValueError(f"unknown layer {name!r}")
            if iv.action == "threshold":
                states[name].scale *= iv.scale
            else:
                states[name].overrides.append((iv.target, iv.index, 1.0 if iv.action == "force" else 0.0,
                                               _heads_of(name, model)))
    originals = {}
    try:
        for name, lif in layers.items():
            originals[name] = lif.forward
            lif.forward = _patched_forward(lif, states[name], originals[name])
        yield
    finally:
        for lif in layers.values():
            lif.__dict__.pop("forward", None)      # back to the class's forward


MASK64 = (1 << 64) - 1


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser of ``x`` (uint64 array), wrapping arithmetic."""
    with np.errstate(over="ignore"):
        z = (x + np.uint64(0x9E3779B97F4A7C15))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def gaussian_noise(count: int, seed: int) -> np.ndarray:
    """``count`` standard normal float64 values: element i from uniforms ``u1, u2`` = the top 53 bits of
    ``splitmix64(seed * 2^32 + 2i)`` and ``(... + 2i + 1)`` (as ``(k + 1) / 2^53``, in (0, 1]), Box-Muller cosine."""
    i = np.arange(count, dtype=np.uint64)
    base = np.uint64((seed << 32) & MASK64)
    with np.errstate(over="ignore"):
        a = _splitmix64(base + np.uint64(2) * i)
        b = _splitmix64(base + np.uint64(2) * i + np.uint64(1))
    u1 = ((a >> np.uint64(11)).astype(np.float64) + 1.0) / 2.0 ** 53
    u2 = ((b >> np.uint64(11)).astype(np.float64) + 1.0) / 2.0 ** 53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * math.pi * u2)


def noisy_pixels(pixels: Tensor, interventions: InterventionSet) -> Tensor:
    """``pixels`` ``[B, C, H, W]`` plus the set's seeded noise (rounded to float32, as the engine adds it)."""
    if not interventions.noise_std:
        return pixels
    noise = gaussian_noise(pixels.numel(), interventions.noise_seed) * interventions.noise_std
    noise32 = torch.from_numpy(noise.astype(np.float32)).reshape(pixels.shape)
    return (pixels.float() + noise32).to(pixels.dtype)


def run(model: SpikeCLIP, pixels: Tensor, token_ids: Tensor, interventions: InterventionSet) -> dict:
    """The reference forward under ``interventions``: ``vision`` ``[B, td]``, ``text`` ``[P, td]`` (readouts over the
    first ``steps`` steps), with every LIF layer's recorded spikes left in the layers (``record_spikes``)."""
    T = model.config.T
    steps = T if interventions.steps is None else interventions.steps
    if not 1 <= steps <= T:
        raise ValueError(f"steps {steps} out of range 1..{T}")
    w_v = model.vision.weights_tensor.detach().clone()
    w_t = model.text.weights_tensor.detach().clone()
    with applied(model, interventions), torch.no_grad():
        px = noisy_pixels(pixels, interventions)
        feats = model.vision.forward_features(px).transpose(0, 1)        # [B, T, D]
        mask = torch.zeros_like(w_v)
        mask[:, :steps] = 1
        vision = model.vision.proj((feats * (w_v * mask)).sum(dim=1))
        t = model.text
        e = t.clip_embedding(token_ids)
        x = e.reshape(e.shape[0], -1).unsqueeze(0).expand(t.T, -1, -1)
        y = t.fc2(t.mlp_lif2(t.fc1(t.mlp_lif1(x))))                       # [T, P, td]
        text = (y.transpose(0, 1) * (w_t * mask)).sum(dim=1)
    return {"vision": vision, "text": text}
