"""Training configurations ``smoke``, ``default`` and ``large`` (docs/TRAINING.md explains the budget of each).

Batch sizes are global (split evenly over DDP ranks). ``n_train``/``n_val``/``n_test`` = ``None`` use the whole split
(train 55 000, val 5 000, test 10 000 images); a number keeps the first items of the split (smoke).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Optional


@dataclass
class StageConfig:
    """One training stage: epochs, global batch, AdamW peak learning rate (linear warm-up, cosine decay per step)."""
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.05
    warmup_epochs: float = 0.5
    min_lr_ratio: float = 0.02


@dataclass
class TrainConfig:
    name: str
    # spiking image encoder (SPEC 1.2)
    vision_dims: int
    vision_heads: int
    vision_depth: int
    vision_mlp_ratio: float
    # ANN twin / image teacher (SPEC 1.4)
    ann_dims: int
    ann_heads: int
    ann_depth: int
    ann_mlp_ratio: float
    # spiking text encoder (SPEC 1.3): MiniLM input embeddings (E = 384), hidden width
    text_hidden: int
    teacher: StageConfig
    text_align: StageConfig
    align: StageConfig
    finetune: StageConfig
    T: int = 4
    context_length: int = 20
    target_dim: int = 384                      # MiniLM sentence-embedding space
    # data
    n_train: Optional[int] = None
    n_val: Optional[int] = None
    n_test: Optional[int] = None
    augment: bool = True
    holdout_classes: list = field(default_factory=list)   # class names kept out of all image training
    # text-align corpus (besides 10 classes x training templates)
    corpus_noun_prompts: int = 12000
    corpus_glosses: int = 4000
    corpus_val_every: int = 20                 # every 20th WordNet sentence is validation
    corpus_templates_per_noun: int = 1         # each WordNet noun in this many distinct training templates
    # this many more noun sentences, each noun in one of text.CORPUS_FRAMES (issue 16 option): the wording people
    # type, beyond the eight photo templates; a separate list, so the MiniLM cache of the corpus above stays valid
    corpus_frame_prompts: int = 0
    class_prompt_repeat: int = 20              # class prompts repeated this often per text-align epoch
    # the frozen MiniLM embedding's LayerNorm feeds mlp_lif1 directly: its affine scaled by this gain at build time
    # (mlp_lif1 fires at 0.5 % with gain 1, issue 16) and, if trainable, learned with the text encoder
    embedding_norm_gain: float = 1.0
    train_embedding_norm: bool = False
    # the text encoder reads [e, -e] per position (text.embedding.signed; issue 16 option, docs/DECISIONS.md)
    text_signed_input: bool = False
    # losses
    logit_scale_init: float = 1 / 0.07
    logit_scale_max: float = 100.0
    kd_temperature: float = 2.0
    kd_weight: float = 1.0
    # export: tensors stored as F16 (the rest F32); rounded to F16 as soon as they are final
    f16_tensors: list = field(default_factory=lambda: ["text.clip_embedding.word_embeddings.weight",
                                                       "text.fc1.weight"])
    eval_batch_size: int = 250
    energy_images: Optional[int] = None        # test images used for the energy estimate (None = all)
    threads: int = 0                           # torch threads per rank (0: cores / local ranks)
    # data set (trainsets.py): "fashion-mnist" (1x28x28) or "open" (3x32x32, opendata.py)
    dataset: str = "fashion-mnist"
    fm_per_epoch: Optional[int] = None         # open: Fashion-MNIST training images per epoch (None: all)
    pic_repeat: int = 1                        # open: each training pictogram this often per epoch
    open_limit: Optional[int] = None           # open: first N emoji and N clip-art files only (smoke)
    default_classes: list = field(default_factory=list)   # open: the checkpoint's default prompts
    fm_own_classes: bool = True                # open: Fashion-MNIST images' CE/KL over the 10 garment names only
    # open: the 10 garments' class banks and the text corpus also get WordNet captions of their senses
    # (opendata.fmnist_wordnet_captions; issue 16 option)
    fm_wordnet_captions: bool = False
    # teacher loss adds w * (1 - cos(image embedding, its own class embedding)): the image embedding is pulled onto
    # the text embedding, not only away from the other classes (issue 16 option)
    teacher_align_weight: float = 0.0
    # finetune loss adds w * (1 - cos(student image embedding, teacher image embedding)): the student stays in the
    # teacher's MiniLM-aligned space, which the align stage reaches (val cos 0.97 on the open run) and CE + KL over
    # the seen names alone leave (mean cos 0.62 on the test images after finetune; issue 16 option)
    finetune_feature_weight: float = 0.0
    # text-align trains the text encoder's fc1 (L*E' -> hidden) as one position-shared block tiled over the L
    # positions plus a per-position residual (zero at the start); export stores the sum, the official layout
    # (issue 16 option, docs/DECISIONS.md)
    text_fc1_tied: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        for k in ("teacher", "text_align", "align", "finetune"):
            d[k] = StageConfig(**d[k])
        return cls(**d)

    def overrides_from(self, base: "TrainConfig") -> list[str]:
        """The ``--set key=JSON`` assignments that turn ``base`` into this config (stage fields as ``stage.key``), in
        field order; ``base.with_overrides(result) == self``."""
        out: list[str] = []
        mine, theirs = self.to_dict(), base.to_dict()
        for k, v in mine.items():
            if isinstance(v, dict):
                out += [f"{k}.{s}={json.dumps(x)}" for s, x in v.items() if theirs[k].get(s) != x]
            elif theirs.get(k) != v:
                out.append(f"{k}={json.dumps(v)}")
        return out

    def with_overrides(self, sets: list[str]) -> "TrainConfig":
        """Apply ``key=JSON`` overrides (``align.epochs=2``, ``holdout_classes=["Shirt","Pullover"]``).

        Raises ``KeyError`` for an unknown key, ``ValueError`` for a malformed assignment.
        """
        cfg = self
        for s in sets:
            if "=" not in s:
                raise ValueError(f"--set expects key=value, got {s!r}")
            key, raw = s.split("=", 1)
            try:
                val: Any = json.loads(raw)
            except json.JSONDecodeError:
                val = raw
            if "." in key:
                stage, sub = key.split(".", 1)
                if stage not in ("teacher", "text_align", "align", "finetune"):
                    raise KeyError(f"unknown stage config {stage!r}")
                st = getattr(cfg, stage)
                if sub not in {f.name for f in fields(st)}:
                    raise KeyError(f"unknown key {key!r}")
                cfg = replace(cfg, **{stage: replace(st, **{sub: val})})
            else:
                if key not in {f.name for f in fields(cfg)}:
                    raise KeyError(f"unknown key {key!r}")
                cfg = replace(cfg, **{key: val})
        return cfg


SMOKE = TrainConfig(
    name="smoke",
    vision_dims=16, vision_heads=2, vision_depth=1, vision_mlp_ratio=2,
    ann_dims=16, ann_heads=2, ann_depth=1, ann_mlp_ratio=2,
    text_hidden=32,
    teacher=StageConfig(epochs=2, batch_size=64, lr=3e-3, warmup_epochs=0.2),
    text_align=StageConfig(epochs=1, batch_size=64, lr=2e-3, weight_decay=0.01, warmup_epochs=0.2),
    align=StageConfig(epochs=1, batch_size=64, lr=3e-3, warmup_epochs=0.2),
    finetune=StageConfig(epochs=1, batch_size=64, lr=2e-3, warmup_epochs=0.2),
    n_train=384, n_val=128, n_test=128,
    corpus_noun_prompts=120, corpus_glosses=40, class_prompt_repeat=1,
    eval_batch_size=128, threads=1,
)

DEFAULT = TrainConfig(
    name="default",
    vision_dims=64, vision_heads=4, vision_depth=1, vision_mlp_ratio=4,
    ann_dims=64, ann_heads=4, ann_depth=2, ann_mlp_ratio=4,
    text_hidden=512,
    teacher=StageConfig(epochs=12, batch_size=128, lr=2e-3, warmup_epochs=0.5),
    text_align=StageConfig(epochs=6, batch_size=128, lr=1e-3, weight_decay=0.01, warmup_epochs=0.3),
    align=StageConfig(epochs=2, batch_size=64, lr=2e-3, warmup_epochs=0.3),
    finetune=StageConfig(epochs=6, batch_size=64, lr=1e-3, warmup_epochs=0.2),
    eval_batch_size=125,
    corpus_noun_prompts=12000, corpus_glosses=4000, class_prompt_repeat=20,
)

# The official widths (D = 384, depth 4, 12 heads, text hidden 2048) for GPU users; same recipe, longer schedules.
LARGE = TrainConfig(
    name="large",
    vision_dims=384, vision_heads=12, vision_depth=4, vision_mlp_ratio=4,
    ann_dims=384, ann_heads=8, ann_depth=4, ann_mlp_ratio=4,
    text_hidden=2048,
    teacher=StageConfig(epochs=60, batch_size=256, lr=1e-3, warmup_epochs=2),
    text_align=StageConfig(epochs=20, batch_size=256, lr=1e-3, weight_decay=0.01, warmup_epochs=1),
    align=StageConfig(epochs=30, batch_size=128, lr=1e-3, warmup_epochs=1),
    finetune=StageConfig(epochs=60, batch_size=128, lr=5e-4, warmup_epochs=1),
    corpus_noun_prompts=60000, corpus_glosses=40000, class_prompt_repeat=50,
    f16_tensors=["text.clip_embedding.word_embeddings.weight", "text.fc1.weight"],
    eval_batch_size=500,
)

# The open-vocabulary default (issue 16): Fashion-MNIST + emoji + clip art at 3x32x32, thousands of concepts.
# Sized so the whole pipeline trains in about an hour on 2 CPU cores (docs/TRAINING.md).
# Default prompts: six seen names and four held-out ones (lion, butterfly, piano, tomato: no training stage saw them).
OPEN_DEFAULT_CLASSES = ["cat", "dog", "lion", "butterfly", "car", "bus", "guitar", "piano", "banana", "tomato"]
OPEN = replace(
    DEFAULT, name="open", dataset="open",
    teacher=StageConfig(epochs=14, batch_size=128, lr=2e-3, warmup_epochs=0.5),
    text_align=StageConfig(epochs=4, batch_size=256, lr=1e-3, weight_decay=0.01, warmup_epochs=0.3),
    align=StageConfig(epochs=2, batch_size=64, lr=2e-3, warmup_epochs=0.3),
    finetune=StageConfig(epochs=5, batch_size=64, lr=1e-3, warmup_epochs=0.2),
    fm_per_epoch=30000, pic_repeat=4,
    corpus_noun_prompts=30000, corpus_glosses=12000, class_prompt_repeat=10,
    default_classes=OPEN_DEFAULT_CLASSES, energy_images=2000,
)
# The same pipeline on a handful of each source (CI smoke, about a minute).
OPEN_SMOKE = replace(
    SMOKE, name="open-smoke", dataset="open", open_limit=40, fm_per_epoch=256, pic_repeat=2,
    default_classes=OPEN_DEFAULT_CLASSES,
)
# The official widths on the open set, for a GPU (same command with --config open-large).
OPEN_LARGE = replace(
    LARGE, name="open-large", dataset="open", fm_per_epoch=None, pic_repeat=8,
    default_classes=OPEN_DEFAULT_CLASSES,
)

CONFIGS = {"smoke": SMOKE, "default": DEFAULT, "large": LARGE, "open": OPEN, "open-smoke": OPEN_SMOKE,
           "open-large": OPEN_LARGE}
