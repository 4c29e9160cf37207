"""Readable reference implementation of SpikeCLIP (Lv et al., arXiv 2310.06488) in PyTorch.

Module attribute names equal the official ``model.py`` state-dict keys (github.com/Lvchangze/SpikeCLIP),
so an official state dict loads after renaming prefixes only (docs/CHECKPOINT.md). The code is written
from SPEC.md section 1, not copied. Every module works in float32 and float64 (``model.double()``).

Letters: T steps, B batch, C channels, H/W spatial, N = H*W/16 tokens, D width, h heads, L text length,
E text embedding width, P prompts, K classes, M templates.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import LIFConfig, SpikeCLIPConfig, mlp_hidden
from .lif import LIF


def default_time_weights(T: int) -> Tensor:
    """Initial ``weights_tensor`` ``[1, T, 1]``: ln(0.1 * 2**t), i.e. ln 0.1, ln 0.2, ln 0.4, ln 0.8 for T = 4.

    Used as raw multipliers of each step's features (not exponentiated). Source: official
    ``Vision_Encoder``/``Language_Encoder`` (which hard-code the T = 4 values rounded to 4 decimals);
    for T != 4 we continue the doubling.
    """
    return torch.tensor([math.log(0.1 * 2.0 ** t) for t in range(T)], dtype=torch.float32).view(1, T, 1)


def _lif(cfg: LIFConfig, attn: bool = False) -> LIF:
    return LIF(tau=cfg.tau, v_threshold=cfg.attn_v_threshold if attn else cfg.v_threshold,
               v_reset=cfg.v_reset, detach_reset=True)


# ----------------------------------------------------------------------------- vision (spiking)

class SpikingTokenizer(nn.Module):
    """Spiking conv tokenizer ``patch_embed`` (SPEC 1.2; official ``Vision_Tokenizer``).

    ``[T, B, C_in, H, W]`` -> real-valued ``[T, B, D, H/4, W/4]``. Convs 3x3/stride 1/pad 1 without bias,
    each followed by BatchNorm2d; channel widths C_in -> D/8 -> D/4 -> D/2 -> D -> D; two 3x3/stride-2
    max-pools (before ``block3_lif`` and ``block4_lif``).
    """

    def __init__(self, in_channels: int, embed_dims: int, lif: LIFConfig = LIFConfig(), bn_eps: float = 1e-5):
        super().__init__()
        D = embed_dims
        widths = [in_channels, D // 8, D // 4, D // 2, D, D]
        # Registered in forward order so that named_modules() lists the LIF layers in forward order.
        self.block0_conv = nn.Conv2d(widths[0], widths[1], 3, 1, 1, bias=False)
        self.block0_bn = nn.BatchNorm2d(widths[1], eps=bn_eps)
        self.block1_lif = _lif(lif)
        self.block1_conv = nn.Conv2d(widths[1], widths[2], 3, 1, 1, bias=False)
        self.block1_bn = nn.BatchNorm2d(widths[2], eps=bn_eps)
        self.block2_lif = _lif(lif)
        self.block2_conv = nn.Conv2d(widths[2], widths[3], 3, 1, 1, bias=False)
        self.block2_bn = nn.BatchNorm2d(widths[3], eps=bn_eps)
        self.block3_mp = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.block3_lif = _lif(lif)
        self.block3_conv = nn.Conv2d(widths[3], widths[4], 3, 1, 1, bias=False)
        self.block3_bn = nn.BatchNorm2d(widths[4], eps=bn_eps)
        self.block4_mp = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.block4_lif = _lif(lif)
        self.block4_conv = nn.Conv2d(widths[4], widths[5], 3, 1, 1, bias=False)
        self.block4_bn = nn.BatchNorm2d(widths[5], eps=bn_eps)

    @staticmethod
    def _per_frame(fn, x: Tensor) -> Tensor:
        """Apply a 4-D op to ``[T, B, C, H, W]`` by folding T into the batch."""
        T, B = x.shape[:2]
        y = fn(x.flatten(0, 1))
        return y.reshape(T, B, *y.shape[1:])

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``[T, B, C_in, H, W]`` -> ``[T, B, D, H/4, W/4]`` (real-valued)."""
        f = self._per_frame
        x = f(lambda z: self.block0_bn(self.block0_conv(z)), x)
        x = self.block1_lif(x)                                   # [T, B, D/8, H, W]
        x = f(lambda z: self.block1_bn(self.block1_conv(z)), x)
        x = self.block2_lif(x)                                   # [T, B, D/4, H, W]
        x = f(lambda z: self.block3_mp(self.block2_bn(self.block2_conv(z))), x)
        x = self.block3_lif(x)                                   # [T, B, D/2, H/2, W/2]
        x = f(lambda z: self.block4_mp(self.block3_bn(self.block3_conv(z))), x)
        x = self.block4_lif(x)                                   # [T, B, D, H/4, W/4]
        return f(lambda z: self.block4_bn(self.block4_conv(z)), x)


class SpikingSelfAttention(nn.Module):
    """Spiking self-attention ``block.{i}.attn`` (SPEC 1.2; official ``Vision_SelfAttention``).

    ``[T, B, D, H', W']`` -> ``[T, B, D, H', W']``. Spike-driven: q, k, v are spike maps, ``q @ k^T`` are
    spike coincidence counts (no softmax), ``(attn @ v) * 0.125`` feeds ``attn_lif`` (threshold 0.5).
    """

    def __init__(self, dim: int, num_heads: int, lif: LIFConfig = LIFConfig(), bn_eps: float = 1e-5):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"SpikingSelfAttention: dim {dim} not divisible by num_heads {num_heads}")
        self.dim, self.num_heads = dim, num_heads
        self.proj_lif = _lif(lif)
        self.q_conv = nn.Conv1d(dim, dim, 1, bias=False)
        self.q_bn = nn.BatchNorm1d(dim, eps=bn_eps)
        self.q_lif = _lif(lif)
        self.k_conv = nn.Conv1d(dim, dim, 1, bias=False)
        self.k_bn = nn.BatchNorm1d(dim, eps=bn_eps)
        self.k_lif = _lif(lif)
        self.v_conv = nn.Conv1d(dim, dim, 1, bias=False)
        self.v_bn = nn.BatchNorm1d(dim, eps=bn_eps)
        self.v_lif = _lif(lif)
        self.attn_lif = _lif(lif, attn=True)
        self.proj_conv = nn.Conv1d(dim, dim, 1, bias=True)
        self.proj_bn = nn.BatchNorm1d(dim, eps=bn_eps)

    def _heads(self, s: Tensor) -> Tensor:
        """Spikes ``[T, B, D, N]`` -> ``[T, B, h, N, D/h]`` (channel c = head * D/h + j)."""
        T, B, D, N = s.shape
        return s.transpose(2, 3).reshape(T, B, N, self.num_heads, D // self.num_heads).permute(0, 1, 3, 2, 4)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``[T, B, D, H', W']`` (real) -> ``[T, B, D, H', W']`` (real)."""
        T, B, D, Hp, Wp = x.shape
        s = self.proj_lif(x).flatten(3)                     # [T, B, D, N]
        N = s.shape[-1]
        s2 = s.flatten(0, 1)                                # [T*B, D, N]
        q = self.q_lif(self.q_bn(self.q_conv(s2)).reshape(T, B, D, N))
        k = self.k_lif(self.k_bn(self.k_conv(s2)).reshape(T, B, D, N))
        v = self.v_lif(self.v_bn(self.v_conv(s2)).reshape(T, B, D, N))
        q, k, v = self._heads(q), self._heads(k), self._heads(v)
        attn = q @ k.transpose(-2, -1)                       # [T, B, h, N, N] coincidence counts
        y = (attn @ v) * 0.125                              # [T, B, h, N, D/h]
        y = y.permute(0, 1, 2, 4, 3).reshape(T, B, D, N)    # channel = head * D/h + j
        y = self.attn_lif(y)                                # [T, B, D, N]
        y = self.proj_bn(self.proj_conv(y.flatten(0, 1)))   # [T*B, D, N]
        return y.reshape(T, B, D, Hp, Wp)


class SpikingMLP(nn.Module):
    """Spiking MLP ``block.{i}.mlp`` (SPEC 1.2; official ``Vision_MLP``): LIF, 1x1 conv (bias), BN, twice.

    ``[T, B, D, H', W']`` -> ``[T, B, D, H', W']``; hidden width Dh = int(D * mlp_ratio).
    """

    def __init__(self, dim: int, hidden: int, lif: LIFConfig = LIFConfig(), bn_eps: float = 1e-5):
        super().__init__()
        self.mlp1_lif = _lif(lif)
        self.mlp1_conv = nn.Conv2d(dim, hidden, 1, bias=True)
        self.mlp1_bn = nn.BatchNorm2d(hidden, eps=bn_eps)
        self.mlp2_lif = _lif(lif)
        self.mlp2_conv = nn.Conv2d(hidden, dim, 1, bias=True)
        self.mlp2_bn = nn.BatchNorm2d(dim, eps=bn_eps)

    def forward(self, x: Tensor) -> Tensor:
        T, B = x.shape[:2]
        y = self.mlp1_bn(self.mlp1_conv(self.mlp1_lif(x).flatten(0, 1)))
        y = y.reshape(T, B, *y.shape[1:])                   # [T, B, Dh, H', W']
        y = self.mlp2_bn(self.mlp2_conv(self.mlp2_lif(y).flatten(0, 1)))
        return y.reshape(T, B, *y.shape[1:])                # [T, B, D, H', W']


class SpikingBlock(nn.Module):
    """``block.{i}``: ``x = x + attn(x); x = x + mlp(x)`` on the real-valued residual stream ``[T, B, D, H', W']``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, lif: LIFConfig = LIFConfig(),
                 bn_eps: float = 1e-5):
        super().__init__()
        self.attn = SpikingSelfAttention(dim, num_heads, lif, bn_eps)
        self.mlp = SpikingMLP(dim, mlp_hidden(dim, mlp_ratio), lif, bn_eps)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


class SpikingVisionEncoder(nn.Module):
    """Spiking image encoder (SPEC 1.2; official ``Vision_Encoder``; Spikingformer-style).

    ``pixel_values`` ``[B, C_in, H, W]`` (preprocessed) -> image embedding ``[B, target_dim]``
    (not normalised). Direct coding: the image is repeated T times. Readout: mean over the N tokens
    -> ``[T, B, D]``; sum over t of ``weights_tensor[0, t, 0] * feature[t]`` -> ``[B, D]``; ``proj``.
    Raises ``ValueError`` if H or W is not divisible by 4 or D not divisible by 8 and num_heads.
    """

    def __init__(self, in_channels: int = 3, target_dim: int = 512, embed_dims: int = 384, num_heads: int = 12,
                 mlp_ratios: float = 4, depths: int = 4, T: int = 4, lif: LIFConfig = LIFConfig(),
                 bn_eps: float = 1e-5):
        super().__init__()
        if embed_dims % 8 or embed_dims % num_heads:
            raise ValueError(f"SpikingVisionEncoder: embed_dims {embed_dims} must be divisible by 8 and {num_heads}")
        self.T = T
        self.weights_tensor = nn.Parameter(default_time_weights(T))
        self.patch_embed = SpikingTokenizer(in_channels, embed_dims, lif, bn_eps)
        self.block = nn.ModuleList([SpikingBlock(embed_dims, num_heads, mlp_ratios, lif, bn_eps)
                                    for _ in range(depths)])
        self.proj = nn.Linear(embed_dims, target_dim)
        for m in self.modules():  # official _init_weights: trunc-normal(0.02) Linear weights, zero bias
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward_features(self, pixel_values: Tensor) -> Tensor:
        """``[B, C_in, H, W]`` -> per-step pooled features ``[T, B, D]``."""
        B, C, H, W = pixel_values.shape
        if H % 4 or W % 4:
            raise ValueError(f"SpikingVisionEncoder: H, W must be divisible by 4, got {H}x{W}")
        x = pixel_values.unsqueeze(0).expand(self.T, B, C, H, W)
        x = self.patch_embed(x)
        for blk in self.block:
            x = blk(x)
        return x.flatten(3).mean(3)

    def forward(self, pixel_values: Tensor) -> Tensor:
        """``[B, C_in, H, W]`` -> ``[B, target_dim]``."""
        feats = self.forward_features(pixel_values).transpose(0, 1)   # [B, T, D]
        pooled = (feats * self.weights_tensor).sum(dim=1)              # [B, D]
        return self.proj(pooled)


# ----------------------------------------------------------------------------- text (spiking)

class BertTextEmbedding(nn.Module):
    """BERT-style embedding (HF ``BertEmbeddings`` key names): word + position (0..L-1) + token type 0, LayerNorm.

    ``token_ids`` ``[P, L]`` (int) -> ``[P, L, E]``. No dropout (inference semantics).
    """

    def __init__(self, vocab_size: int, embed_dim: int, max_position_embeddings: int, type_vocab_size: int = 2,
                 layer_norm_eps: float = 1e-12):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, embed_dim)
        self.position_embeddings = nn.Embedding(max_position_embeddings, embed_dim)
        self.token_type_embeddings = nn.Embedding(type_vocab_size, embed_dim)
        self.LayerNorm = nn.LayerNorm(embed_dim, eps=layer_norm_eps)

    def forward(self, token_ids: Tensor) -> Tensor:
        L = token_ids.shape[-1]
        pos = torch.arange(L, device=token_ids.device)
        # HF order: (word + token type) + position
        x = self.word_embeddings(token_ids) + self.token_type_embeddings.weight[0] + self.position_embeddings(pos)
        return self.LayerNorm(x)


class ClipTextEmbedding(nn.Module):
    """CLIP-style embedding (HF ``CLIPTextEmbeddings`` key names): token + position (0..L-1), no LayerNorm.

    ``token_ids`` ``[P, L]`` -> ``[P, L, E]``. The official SpikeCLIP uses CLIP's (E = 512).
    """

    def __init__(self, vocab_size: int, embed_dim: int, max_position_embeddings: int):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, embed_dim)
        self.position_embedding = nn.Embedding(max_position_embeddings, embed_dim)

    def forward(self, token_ids: Tensor) -> Tensor:
        pos = torch.arange(token_ids.shape[-1], device=token_ids.device)
        return self.token_embedding(token_ids) + self.position_embedding(pos)


class SpikingTextEncoder(nn.Module):
    """Spiking text encoder (SPEC 1.3; official ``Language_Encoder``).

    ``token_ids`` ``[P, L]`` -> ``clip_embedding`` ``[P, L, E]`` -> repeat T, flatten ``[T, P, L*E]`` ->
    ``mlp_lif1`` -> ``fc1`` (L*E -> hidden) -> ``mlp_lif2`` -> ``fc2`` (hidden -> target_dim) ->
    sum over t of ``weights_tensor[0, t, 0] * y[t]`` -> ``[P, target_dim]`` (not normalised).
    ``clip_embedding`` is pluggable (``BertTextEmbedding``, ``ClipTextEmbedding`` or any module mapping
    ``[P, L]`` ids to ``[P, L, E]``). The attention mask of the official signature is ignored.
    ``signed`` (not official; ``text.embedding.signed``): each position's ``e`` becomes ``[e, -e]`` before the
    flatten, so ``mlp_lif1`` sees both signs of the embedding and ``fc1`` reads ``L*2E`` values.
    Raises ``ValueError`` if the ids are not ``[P, context_length]``.
    """

    def __init__(self, clip_embedding: nn.Module, embed_dim: int = 512, context_length: int = 20,
                 hidden_dim: int = 2048, target_dim: int = 512, T: int = 4, lif: LIFConfig = LIFConfig(),
                 signed: bool = False):
        super().__init__()
        self.T, self.context_length, self.signed = T, context_length, signed
        self.mlp_lif1 = _lif(lif)
        self.fc1 = nn.Linear(context_length * embed_dim * (2 if signed else 1), hidden_dim)
        self.mlp_lif2 = _lif(lif)
        self.fc2 = nn.Linear(hidden_dim, target_dim)
        self.clip_embedding = clip_embedding
        self.weights_tensor = nn.Parameter(default_time_weights(T))

    def forward(self, token_ids: Tensor, attention_mask: Optional[Tensor] = None) -> Tensor:
        """``[P, L]`` int ids -> ``[P, target_dim]``; ``attention_mask`` is accepted and ignored (official)."""
        if token_ids.dim() != 2 or token_ids.shape[1] != self.context_length:
            raise ValueError(f"SpikingTextEncoder: expected ids [P, {self.context_length}], "
                             f"got {tuple(token_ids.shape)}")
        e = self.clip_embedding(token_ids)                                 # [P, L, E]
        if self.signed:
            e = torch.cat([e, -e], dim=-1)                                 # [P, L, 2E]
        x = e.reshape(e.shape[0], -1).unsqueeze(0).expand(self.T, -1, -1)  # [T, P, L*E]
        x = self.fc2(self.mlp_lif2(self.fc1(self.mlp_lif1(x))))            # [T, P, target_dim]
        return (x.transpose(0, 1) * self.weights_tensor).sum(dim=1)


# ----------------------------------------------------------------------------- ANN twin

class ConvTokenizer(nn.Module):
    """ANN conv tokenizer ``embeddings`` (official ``CLIP_Tokenizer``): the spiking tokenizer's convs, BNs and
    max-pools with no spiking and no activation. ``[B, C_in, H, W]`` -> tokens ``[B, N, D]``, N = H*W/16.
    """

    def __init__(self, in_channels: int, embed_dims: int, bn_eps: float = 1e-5):
        super().__init__()
        D = embed_dims
        w = [in_channels, D // 8, D // 4, D // 2, D, D]
        for j in range(5):
            setattr(self, f"block{j}_conv", nn.Conv2d(w[j], w[j + 1], 3, 1, 1, bias=False))
            setattr(self, f"block{j}_bn", nn.BatchNorm2d(w[j + 1], eps=bn_eps))
        self.block3_mp = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.block4_mp = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.block0_bn(self.block0_conv(x))
        x = self.block1_bn(self.block1_conv(x))
        x = self.block2_bn(self.block2_conv(x))
        x = self.block3_bn(self.block3_conv(self.block3_mp(x)))
        x = self.block4_bn(self.block4_conv(self.block4_mp(x)))   # [B, D, H/4, W/4]
        return x.flatten(2).transpose(1, 2)


class AnnSelfAttention(nn.Module):
    """``self_attn`` (official ``CLIPAttention``): softmax attention, scale head_dim^-0.5, biased projections.

    ``[B, N, D]`` -> ``[B, N, D]``.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"AnnSelfAttention: dim {dim} not divisible by num_heads {num_heads}")
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        B, N, D = x.shape
        split = lambda z: z.reshape(B, N, self.num_heads, self.head_dim).transpose(1, 2)  # [B, h, N, d]
        q = split(self.q_proj(x) * self.scale)
        k, v = split(self.k_proj(x)), split(self.v_proj(x))
        a = torch.softmax(q @ k.transpose(-2, -1), dim=-1)                                 # [B, h, N, N]
        return self.out_proj((a @ v).transpose(1, 2).reshape(B, N, D))


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)`` (official ``QuickGELUActivation``)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


class AnnMLP(nn.Module):
    """``mlp`` (official ``CLIPMLP``): fc1 (D -> Dh), QuickGELU, fc2 (Dh -> D). ``[B, N, D]`` -> ``[B, N, D]``."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.activation_fn = QuickGELU()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.activation_fn(self.fc1(x)))


class AnnEncoderLayer(nn.Module):
    """``encoder.layers.{i}`` (official ``CLIPEncoderLayer``): pre-LN attention and MLP with residuals."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, ln_eps: float = 1e-5):
        super().__init__()
        self.self_attn = AnnSelfAttention(dim, num_heads)
        self.layer_norm1 = nn.LayerNorm(dim, eps=ln_eps)
        self.mlp = AnnMLP(dim, mlp_hidden(dim, mlp_ratio))
        self.layer_norm2 = nn.LayerNorm(dim, eps=ln_eps)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class AnnEncoder(nn.Module):
    """``encoder`` holding ``layers`` (official ``CLIPEncoder``)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, depths: int, ln_eps: float = 1e-5):
        super().__init__()
        self.layers = nn.ModuleList([AnnEncoderLayer(dim, num_heads, mlp_ratio, ln_eps) for _ in range(depths)])

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class ScratchCLIPVision(nn.Module):
    """The ANN twin "ScratchCLIP" image encoder (SPEC 1.4; official ``CLIPVisionTransformer`` / ``CLIPv_encoder``).

    ``pixel_values`` ``[B, C_in, H, W]`` -> conv tokens ``[B, N, D]`` -> ``pre_layrnorm`` (sic, official key)
    -> ``depths`` pre-LN layers -> mean over tokens -> ``post_layernorm`` -> ``proj`` -> ``[B, target_dim]``.
    """

    def __init__(self, in_channels: int = 3, target_dim: int = 512, embed_dims: int = 384, num_heads: int = 8,
                 mlp_ratios: float = 4, depths: int = 4, layer_norm_eps: float = 1e-5, bn_eps: float = 1e-5):
        super().__init__()
        self.embeddings = ConvTokenizer(in_channels, embed_dims, bn_eps)
        self.pre_layrnorm = nn.LayerNorm(embed_dims, eps=layer_norm_eps)
        self.encoder = AnnEncoder(embed_dims, num_heads, mlp_ratios, depths, layer_norm_eps)
        self.post_layernorm = nn.LayerNorm(embed_dims, eps=layer_norm_eps)
        self.proj = nn.Linear(embed_dims, target_dim)

    def forward(self, pixel_values: Tensor) -> Tensor:
        x = self.encoder(self.pre_layrnorm(self.embeddings(pixel_values)))
        return self.proj(self.post_layernorm(x.mean(dim=1)))


# ----------------------------------------------------------------------------- whole model

def build_text_embedding(cfg: SpikeCLIPConfig) -> nn.Module:
    """The text embedding module named by ``cfg.text.embedding.kind`` ("bert" or "clip")."""
    e, E = cfg.text.embedding, cfg.text.embed_dim
    if e.kind == "bert":
        return BertTextEmbedding(e.vocab_size, E, e.max_position_embeddings, e.type_vocab_size, e.layer_norm_eps)
    if e.kind == "clip":
        return ClipTextEmbedding(e.vocab_size, E, e.max_position_embeddings)
    raise ValueError(f"text.embedding.kind: unknown {e.kind!r}")


class SpikeCLIP(nn.Module):
    """Container whose state dict is the checkpoint (docs/CHECKPOINT.md): ``vision.``, ``text.``, ``ann_vision.``.

    LIF recording names are the module paths (``vision.patch_embed.block1_lif``, ``text.mlp_lif1``, ...).
    """

    def __init__(self, cfg: SpikeCLIPConfig):
        super().__init__()
        self.config = cfg
        v, a, t = cfg.vision, cfg.ann_vision, cfg.text
        self.vision = SpikingVisionEncoder(v.in_channels, v.target_dim, v.embed_dims, v.num_heads, v.mlp_ratios,
                                           v.depths, cfg.T, cfg.lif, cfg.batch_norm_eps)
        self.text = SpikingTextEncoder(build_text_embedding(cfg), t.embed_dim, t.context_length, t.hidden_dim,
                                       t.target_dim, cfg.T, cfg.lif, signed=bool(t.embedding.signed))
        # No ANN twin in a converted official file (its ANN side is CLIP, outside the checkpoint).
        self.ann_vision = None if a is None else ScratchCLIPVision(
            v.in_channels, a.target_dim, a.embed_dims, a.num_heads, a.mlp_ratios, a.depths, a.layer_norm_eps,
            cfg.batch_norm_eps)

    def forward(self, pixel_values: Tensor, token_ids: Tensor, num_templates: int = 1) -> dict:
        """Images ``[B, C, H, W]`` and prompt ids ``[P, L]`` (P = K*M, prompt p = c*M + m) -> dict of
        ``vision`` ``[B, td]``, ``text`` ``[P, td]``, ``ann_vision`` ``[B, td]`` (with an ANN twin) and the zero-shot outputs of
        ``zero_shot`` (``class_embeddings`` ``[K, td]``, ``logits``/``probs`` ``[B, K]``, ``top1`` ``[B]``).
        """
        out = {"vision": self.vision(pixel_values), "text": self.text(token_ids)}
        if self.ann_vision is not None:
            out["ann_vision"] = self.ann_vision(pixel_values)
        out.update(zero_shot(out["vision"], out["text"], num_templates, self.config.logit_scale))
        return out


def lif_layers(model: nn.Module) -> "OrderedDict[str, LIF]":
    """Every LIF layer of ``model`` by module path, in forward order (docs/CHECKPOINT.md layer order)."""
    return OrderedDict((name, m) for name, m in model.named_modules() if isinstance(m, LIF))


def class_embeddings(text_emb: Tensor, num_templates: int) -> Tensor:
    """``[K*M, td]`` text embeddings (prompt p = c*M + m) -> ``[K, td]``: mean over the M templates of the
    L2-normalised embeddings, not re-normalised (SPEC 1.5, official zero-shot evaluation).
    Raises ``ValueError`` if P is not a multiple of M."""
    P, td = text_emb.shape
    if num_templates < 1 or P % num_templates:
        raise ValueError(f"class_embeddings: {P} prompts is not a multiple of {num_templates} templates")
    return F.normalize(text_emb, dim=-1).reshape(P // num_templates, num_templates, td).mean(dim=1)


def zero_shot(image_emb: Tensor, text_emb: Tensor, num_templates: int, logit_scale: float = 1.0) -> dict:
    """Zero-shot scoring (SPEC 1.5).

    ``image_emb`` ``[B, td]``, ``text_emb`` ``[K*M, td]`` -> ``class_embeddings`` ``[K, td]``,
    ``cosines`` ``[B, K]`` (normalised image . class embedding; a class embedding has norm <= 1),
    ``logits`` = ``logit_scale * cosines``, ``probs`` = softmax over K, ``top1`` ``[B]`` argmax.
    """
    ce = class_embeddings(text_emb, num_templates)
    cos = F.normalize(image_emb, dim=-1) @ ce.T
    logits = logit_scale * cos
    return {"class_embeddings": ce, "cosines": cos, "logits": logits,
            "probs": torch.softmax(logits, dim=-1), "top1": logits.argmax(dim=-1)}
