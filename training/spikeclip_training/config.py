"""Checkpoint configuration: dataclasses that round-trip the ``config`` JSON of docs/CHECKPOINT.md.

``SpikeCLIPConfig.from_json(s).to_json()`` reproduces the same JSON object (same keys, same values;
optional keys that were absent stay absent). Unknown keys are rejected (``ConfigError`` naming the
key path) everywhere except inside ``provenance``, which is free-form.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, Optional


class ConfigError(ValueError):
    """A checkpoint ``config`` is malformed; the message names the offending key path."""


def _take(d: dict, path: str, allowed: set[str], required: set[str]) -> None:
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(d).__name__}")
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}")
    missing = sorted(required - set(d))
    if missing:
        raise ConfigError(f"{path}: missing key(s) {missing}")


def _to_dict(obj) -> dict:
    out = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        if v is None and f.metadata.get("omit_if_none", False):
            continue
        if hasattr(v, "to_dict"):
            v = v.to_dict()
        elif isinstance(v, tuple):
            v = list(v)
        out[f.name] = v
    return out


def _opt():
    return field(default=None, metadata={"omit_if_none": True})


@dataclass(kw_only=True)
class LIFConfig:
    """LIF constants (SPEC 1.1): tau, thresholds and reset potential (dimensionless membrane units)."""
    tau: float = 2.0
    v_threshold: float = 1.0
    v_reset: float = 0.0
    attn_v_threshold: float = 0.5

    def to_dict(self) -> dict:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, d: dict, path: str = "lif") -> "LIFConfig":
        _take(d, path, {f.name for f in fields(cls)}, set())
        return cls(**d)


@dataclass(kw_only=True)
class VisionConfig:
    """Spiking image encoder hyper-parameters (SPEC 1.2, official ``Vision_Encoder``)."""
    in_channels: int
    image_size: list  # [H, W]
    embed_dims: int
    num_heads: int
    mlp_ratios: float
    depths: int
    target_dim: int

    def to_dict(self) -> dict:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, d: dict, path: str = "vision") -> "VisionConfig":
        names = {f.name for f in fields(cls)}
        _take(d, path, names, names)
        return cls(**d)


@dataclass(kw_only=True)
class AnnVisionConfig:
    """ANN twin (ScratchCLIP, official ``CLIPVisionTransformer``) hyper-parameters (SPEC 1.4)."""
    embed_dims: int
    num_heads: int
    mlp_ratios: float
    depths: int
    target_dim: int
    layer_norm_eps: float = 1e-5

    def to_dict(self) -> dict:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, d: dict, path: str = "ann_vision") -> "AnnVisionConfig":
        names = {f.name for f in fields(cls)}
        _take(d, path, names, names - {"layer_norm_eps"})
        return cls(**d)


@dataclass(kw_only=True)
class TextEmbeddingConfig:
    """Text embedding module: ``kind`` "bert" (word+position+type 0, LayerNorm) or "clip" (token+position)."""
    kind: str
    vocab_size: int
    max_position_embeddings: int
    type_vocab_size: Optional[int] = _opt()
    layer_norm_eps: Optional[float] = _opt()
    # True: each position's embedding e becomes [e, -e] (2E values) before mlp_lif1, so the input LIF layer sees both
    # signs (issue 16 option, docs/CHECKPOINT.md; absent = False, the official model). The Swift engine computes it.
    signed: Optional[bool] = _opt()

    def to_dict(self) -> dict:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, d: dict, path: str = "text.embedding") -> "TextEmbeddingConfig":
        kind = d.get("kind") if isinstance(d, dict) else None
        base = {"kind", "vocab_size", "max_position_embeddings"}
        if kind == "bert":
            _take(d, path, base | {"type_vocab_size", "layer_norm_eps", "signed"}, base | {"type_vocab_size", "layer_norm_eps"})
        elif kind == "clip":
            _take(d, path, base | {"signed"}, base)
        else:
            raise ConfigError(f"{path}.kind: expected 'bert' or 'clip', got {kind!r}")
        return cls(**d)


@dataclass(kw_only=True)
class TextConfig:
    """Spiking text encoder hyper-parameters (SPEC 1.3, official ``Language_Encoder``)."""
    context_length: int
    embed_dim: int
    hidden_dim: int
    target_dim: int
    embedding: TextEmbeddingConfig

    def to_dict(self) -> dict:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, d: dict, path: str = "text") -> "TextConfig":
        names = {f.name for f in fields(cls)}
        _take(d, path, names, names)
        d = dict(d)
        d["embedding"] = TextEmbeddingConfig.from_dict(d["embedding"], f"{path}.embedding")
        return cls(**d)


PREPROCESS_KINDS = ("normalize", "clip-then-resize")


@dataclass(kw_only=True)
class PreprocessConfig:
    """Image preprocessing: size [H, W], channels C, per-channel mean/std (pixel = (x/255 - mean)/std).

    ``kind`` "normalize" (absent: our own pipeline, docs/PREPROCESSING.md) or "clip-then-resize" (the official
    SpikeCLIP input: ``CLIPImageProcessor`` with short side ``clip_shortest_edge``, center crop ``clip_crop_size``,
    mean/std, then ``F.interpolate(size=image_size, mode="bilinear", align_corners=False)``)."""
    kind: Optional[str] = _opt()
    image_size: list
    channels: int
    mean: list
    std: list
    clip_shortest_edge: Optional[int] = _opt()
    clip_crop_size: Optional[int] = _opt()

    def to_dict(self) -> dict:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, d: dict, path: str = "preprocess") -> "PreprocessConfig":
        names = {f.name for f in fields(cls)}
        _take(d, path, names, {"image_size", "channels", "mean", "std"})
        kind = d.get("kind", "normalize")
        if kind not in PREPROCESS_KINDS:
            raise ConfigError(f"{path}.kind: expected one of {list(PREPROCESS_KINDS)}, got {kind!r}")
        clip_keys = {"clip_shortest_edge", "clip_crop_size"}
        if kind == "clip-then-resize" and not clip_keys <= set(d):
            raise ConfigError(f"{path}: kind 'clip-then-resize' needs {sorted(clip_keys)}")
        if kind != "clip-then-resize" and clip_keys & set(d):
            raise ConfigError(f"{path}: {sorted(clip_keys & set(d))} only with kind 'clip-then-resize'")
        return cls(**d)


TOKENIZER_KINDS = ("bert-wordpiece", "clip-bpe", "ids")


@dataclass(kw_only=True)
class TokenizerConfig:
    """Tokenizer: ``kind`` "bert-wordpiece" (vocab file beside the checkpoint), "clip-bpe" (CLIP's byte-level BPE:
    ``vocab_file`` a ``bpe_simple_vocab_16e6.txt.gz`` or a Hugging Face folder, optionally checked against
    ``vocab_sha256``) or "ids" (caller gives ids).

    ``cls_id``/``sep_id`` are the start/end token ids whatever the vocabulary calls them.
    """
    kind: str
    vocab_file: Optional[str] = _opt()
    vocab_sha256: Optional[str] = _opt()
    context_length: int
    pad_id: int
    cls_id: int
    sep_id: int
    unk_id: Optional[int] = _opt()
    lowercase: Optional[bool] = _opt()

    def to_dict(self) -> dict:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, d: dict, path: str = "tokenizer") -> "TokenizerConfig":
        names = {f.name for f in fields(cls)}
        req = {"kind", "context_length", "pad_id", "cls_id", "sep_id"}
        _take(d, path, names, req)
        if d["kind"] not in TOKENIZER_KINDS:
            raise ConfigError(f"{path}.kind: expected one of {list(TOKENIZER_KINDS)}, got {d['kind']!r}")
        if d["kind"] == "bert-wordpiece" and not d.get("vocab_file"):
            raise ConfigError(f"{path}.vocab_file: required for kind 'bert-wordpiece'")
        return cls(**d)


@dataclass(kw_only=True)
class AnnTextRef:
    """Second safetensors file holding the ANN text model (HF BertModel keys under ``ann_text.``)."""
    file: str
    sha256: str

    def to_dict(self) -> dict:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, d: dict, path: str = "ann_text") -> "AnnTextRef":
        _take(d, path, {"file", "sha256"}, {"file", "sha256"})
        return cls(**d)


@dataclass(kw_only=True)
class SpikeCLIPConfig:
    """The whole checkpoint ``config`` (docs/CHECKPOINT.md). ``T`` = simulation time steps."""
    T: int
    lif: LIFConfig = field(default_factory=LIFConfig)
    batch_norm_eps: float = 1e-5
    vision: VisionConfig
    ann_vision: Optional[AnnVisionConfig]  # None: no ANN twin (official files; CLIP's vision tower when ann_text is CLIP)
    text: TextConfig
    logit_scale: float = 1.0
    preprocess: PreprocessConfig
    tokenizer: TokenizerConfig
    classes: list = field(default_factory=list)
    templates: list = field(default_factory=list)
    ann_text: Optional[AnnTextRef] = None
    provenance: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        return _to_dict(self)

    def to_json(self) -> str:
        """Deterministic compact JSON (key order = CHECKPOINT.md order)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, d: Any) -> "SpikeCLIPConfig":
        """Parse and validate. Raises ``ConfigError`` naming the key path on any problem."""
        names = {f.name for f in fields(cls)}
        _take(d, "config", names, {"T", "lif", "batch_norm_eps", "vision", "ann_vision", "text",
                                   "logit_scale", "preprocess", "tokenizer", "classes", "templates",
                                   "ann_text", "provenance"})
        cfg = cls(
            T=d["T"],
            lif=LIFConfig.from_dict(d["lif"]),
            batch_norm_eps=d["batch_norm_eps"],
            vision=VisionConfig.from_dict(d["vision"]),
            ann_vision=None if d["ann_vision"] is None else AnnVisionConfig.from_dict(d["ann_vision"]),
            text=TextConfig.from_dict(d["text"]),
            logit_scale=d["logit_scale"],
            preprocess=PreprocessConfig.from_dict(d["preprocess"]),
            tokenizer=TokenizerConfig.from_dict(d["tokenizer"]),
            classes=list(d["classes"]),
            templates=list(d["templates"]),
            ann_text=None if d["ann_text"] is None else AnnTextRef.from_dict(d["ann_text"]),
            provenance=d["provenance"],
        )
        cfg.validate()
        return cfg

    @classmethod
    def from_json(cls, s: str) -> "SpikeCLIPConfig":
        try:
            d = json.loads(s)
        except json.JSONDecodeError as e:
            raise ConfigError(f"config: not valid JSON ({e})") from e
        return cls.from_dict(d)

    # ------------------------------------------------------------ validation
    def validate(self) -> None:
        """Check cross-field constraints of CHECKPOINT.md / SPEC 2. Raises ``ConfigError``."""
        v, a, t = self.vision, self.ann_vision, self.text
        if not (isinstance(self.T, int) and self.T >= 1):
            raise ConfigError(f"T: expected a positive integer, got {self.T!r}")
        if len(v.image_size) != 2 or any(s % 4 for s in v.image_size):
            raise ConfigError(f"vision.image_size: expected [H, W] divisible by 4, got {v.image_size}")
        towers = [("vision", v.embed_dims, v.num_heads)] + ([("ann_vision", a.embed_dims, a.num_heads)] if a else [])
        for path, d, h in towers:
            if d % 8 or d % h:
                raise ConfigError(f"{path}.embed_dims: {d} must be divisible by 8 and by num_heads {h}")
        if not (v.target_dim == t.target_dim == (a.target_dim if a else t.target_dim)):
            raise ConfigError("target_dim: vision, ann_vision and text target_dim must be equal, got "
                              f"{v.target_dim}, {a.target_dim if a else None}, {t.target_dim}")
        if t.context_length > t.embedding.max_position_embeddings:
            raise ConfigError(f"text.context_length {t.context_length} exceeds "
                              f"text.embedding.max_position_embeddings {t.embedding.max_position_embeddings}")
        if self.tokenizer.context_length != t.context_length:
            raise ConfigError(f"tokenizer.context_length {self.tokenizer.context_length} != "
                              f"text.context_length {t.context_length}")
        p = self.preprocess
        if list(p.image_size) != list(v.image_size) or p.channels != v.in_channels:
            raise ConfigError("preprocess: image_size/channels must match vision.image_size/in_channels")
        if len(p.mean) != p.channels or len(p.std) != p.channels:
            raise ConfigError(f"preprocess: mean/std need {p.channels} values")


def mlp_hidden(embed_dims: int, mlp_ratios: float) -> int:
    """MLP hidden width ``int(embed_dims * mlp_ratios)`` (official ``Vision_Transformer``/``CLIPEncoderLayer``)."""
    return int(embed_dims * mlp_ratios)
