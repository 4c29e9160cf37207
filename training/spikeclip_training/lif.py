"""Multi-step leaky integrate-and-fire neuron (SPEC 1.1).

Semantics of spikingjelly's ``MultiStepLIFNode(tau=2.0, detach_reset=True)`` as used by every LIF layer
of the official SpikeCLIP ``model.py`` (decay_input=True, hard reset to ``v_reset``), written from the
equations, not from spikingjelly's code:

    h[t] = v[t-1] + (x[t] - (v[t-1] - v_reset)) / tau        (charge; v[-1] = v_reset)
    s[t] = 1 if h[t] - v_threshold >= 0 else 0               (fire; note >=)
    v[t] = h[t] * (1 - s[t]) + v_reset * s[t]                (hard reset)

Forward is the Heaviside step; backward uses the sigmoid surrogate
``d s / d h = alpha * sigmoid(alpha u) * (1 - sigmoid(alpha u))`` with ``u = h - v_threshold`` and
alpha = 4 (spikingjelly's ``surrogate.Sigmoid()`` default). With ``detach_reset`` the spike used in the
reset is detached from the graph, as in the official code.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn


class SigmoidSurrogateSpike(torch.autograd.Function):
    """Heaviside forward (``u >= 0`` -> 1), sigmoid-derivative backward.

    Shapes: ``u`` any shape; returns a tensor of the same shape and dtype holding 0/1.
    Source: spikingjelly ``surrogate.Sigmoid`` (alpha = 4), Fang et al. 2021.
    """

    @staticmethod
    def forward(ctx, u: Tensor, alpha: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(u)
        ctx.alpha = alpha
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        (u,) = ctx.saved_tensors
        sg = torch.sigmoid(ctx.alpha * u)
        return grad_out * ctx.alpha * sg * (1.0 - sg), None


class MultiStepLIFFunction(torch.autograd.Function):
    """Whole-sequence LIF as one autograd node (training speed-up; same forward arithmetic as ``LIF``).

    Forward: the loop of SPEC 1.1 with the same float operations as ``LIF.forward`` (so spikes are
    bit-identical); only the charges ``h`` ``[T, ...]`` are saved. Backward: the surrogate gradient of
    ``LIF`` with ``detach_reset`` written out by hand, from the last step to the first::

        g_h[t] = g_s[t] * alpha * sig(alpha u[t]) * (1 - sig(alpha u[t])) + g_v[t] * (1 - s[t])
        g_x[t] = g_h[t] / tau,    g_v[t-1] = g_h[t] - g_h[t] / tau

    Shapes: ``x`` ``[T, ...]`` -> spikes ``[T, ...]``.
    """

    @staticmethod
    def forward(ctx, x: Tensor, tau: float, v_threshold: float, v_reset: float, alpha: float) -> Tensor:  # type: ignore[override]
        v = torch.full_like(x[0], v_reset)
        hs = torch.empty_like(x)
        for t in range(x.shape[0]):
            h = v + (x[t] - (v - v_reset)) / tau
            hs[t] = h
            s = (h - v_threshold >= 0).to(x.dtype)
            v = h * (1.0 - s) + v_reset * s
        ctx.save_for_backward(hs)
        ctx.consts = (tau, v_threshold, alpha)
        return (hs - v_threshold >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g_s: Tensor):  # type: ignore[override]
        (hs,) = ctx.saved_tensors
        tau, v_threshold, alpha = ctx.consts
        u = hs - v_threshold
        sg = torch.sigmoid(alpha * u)
        surr = alpha * sg * (1.0 - sg)
        keep = (u < 0).to(hs.dtype)                       # 1 - s[t]
        g_x = torch.empty_like(hs)
        g_v = None
        for t in range(hs.shape[0] - 1, -1, -1):
            g_h = g_s[t] * surr[t]
            if g_v is not None:
                g_h = g_h + g_v * keep[t]
            g_x[t] = g_h / tau
            g_v = g_h - g_h / tau
        return g_x, None, None, None, None


def spike_fn(u: Tensor, alpha: float = 4.0) -> Tensor:
    """Spike = Heaviside(u) with sigmoid surrogate gradient; ``u = h - v_threshold``, any shape."""
    return SigmoidSurrogateSpike.apply(u, alpha)


class LIF(nn.Module):
    """Multi-step LIF layer over a leading time dimension.

    Input ``x``: ``[T, ...]`` real-valued currents (any float dtype, float64 included).
    Output: spikes ``[T, ...]`` (0/1, dtype of ``x``). The membrane starts at ``v_reset`` on every call
    (no state is carried between calls).

    Recording (SPEC 5, docs/CHECKPOINT.md "LIF layers"):

    - ``record_spikes = True``: after a forward, ``recorded_spikes`` holds the spikes ``[T, ...]`` as uint8.
    - ``membrane_index``: a 1-D LongTensor of flat indices into the per-step tensor ``x[t]`` (shape
      ``[B, ...]`` or ``[P, ...]``); after a forward, ``recorded_membrane`` is ``[T, n]``: the charge
      ``h[t]`` (before fire and reset) of those neurons, in the input dtype.
    - ``record_full_membrane = True``: ``recorded_membrane_full`` holds ``h`` for every neuron ``[T, ...]``.

    Args:
        tau: membrane time constant (dimensionless, in steps); official 2.0.
        v_threshold: firing threshold (membrane units); 1.0, or 0.5 for ``attn_lif``.
        v_reset: reset potential; 0.0.
        detach_reset: detach the spike in the reset path (official: True).
        surrogate_alpha: sigmoid surrogate sharpness (spikingjelly default 4.0).

    Raises ``ValueError`` for ``tau <= 1`` or an input with fewer than 2 dimensions.
    Source: SPEC 1.1; official ``model.py`` ``MultiStepLIFNode(tau=2.0, detach_reset=True)``.
    """

    def __init__(self, tau: float = 2.0, v_threshold: float = 1.0, v_reset: float = 0.0,
                 detach_reset: bool = True, surrogate_alpha: float = 4.0) -> None:
        super().__init__()
        if not tau > 1.0:
            raise ValueError(f"LIF: tau must be > 1, got {tau}")
        self.tau = float(tau)
        self.v_threshold = float(v_threshold)
        self.v_reset = float(v_reset)
        self.detach_reset = detach_reset
        self.surrogate_alpha = float(surrogate_alpha)
        self.record_spikes = False
        self.record_full_membrane = False
        self.membrane_index: Optional[Tensor] = None
        self.recorded_spikes: Optional[Tensor] = None
        self.recorded_membrane: Optional[Tensor] = None
        self.recorded_membrane_full: Optional[Tensor] = None
        # Training speed-up: when True and nothing is recorded, run ``MultiStepLIFFunction`` (same spikes,
        # hand-written surrogate backward, less memory). Requires ``detach_reset`` (the official setting).
        self.fused = False

    def extra_repr(self) -> str:
        return (f"tau={self.tau}, v_threshold={self.v_threshold}, v_reset={self.v_reset}, "
                f"detach_reset={self.detach_reset}")

    def clear_records(self) -> None:
        """Forget the last recorded spikes/membrane."""
        self.recorded_spikes = None
        self.recorded_membrane = None
        self.recorded_membrane_full = None

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``[T, ...]`` -> spikes ``[T, ...]`` (see class docstring)."""
        if x.dim() < 2:
            raise ValueError(f"LIF: expected input [T, ...] with at least 2 dims, got shape {tuple(x.shape)}")
        if (self.fused and self.detach_reset and not self.record_spikes and not self.record_full_membrane
                and self.membrane_index is None):
            return MultiStepLIFFunction.apply(x, self.tau, self.v_threshold, self.v_reset, self.surrogate_alpha)
        v = torch.full_like(x[0], self.v_reset)
        spikes = []
        charges = []
        want_h = self.record_full_membrane or self.membrane_index is not None
        for t in range(x.shape[0]):
            h = v + (x[t] - (v - self.v_reset)) / self.tau
            s = spike_fn(h - self.v_threshold, self.surrogate_alpha)
            s_reset = s.detach() if self.detach_reset else s
            v = h * (1.0 - s_reset) + self.v_reset * s_reset
            spikes.append(s)
            if want_h:
                charges.append(h.detach())
        out = torch.stack(spikes, dim=0)
        if self.record_spikes:
            self.recorded_spikes = out.detach().to(torch.uint8)
        if want_h:
            h_all = torch.stack(charges, dim=0)
            if self.record_full_membrane:
                self.recorded_membrane_full = h_all
            if self.membrane_index is not None:
                idx = self.membrane_index.to(device=h_all.device, dtype=torch.long)
                self.recorded_membrane = h_all.reshape(h_all.shape[0], -1)[:, idx]
        return out
