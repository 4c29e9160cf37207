"""The image-text sets a training run reads, behind one interface (``TrainConfig.dataset``):

- ``fashion-mnist``: 1x28x28 grey garments, 10 classes (``data.py``), the ``default`` configuration;
- ``open``: 3x32x32 colour, Fashion-MNIST (grey replicated, resized 28 -> 32 bilinear) plus the emoji and clip-art
  concepts of ``opendata.py`` with their captions and held-out concepts, the ``open`` configuration.

A split is an :class:`ImageData` (Fashion-MNIST part and pictogram part, labels are concept ids); a training epoch of
the ``open`` set is ``fm_per_epoch`` Fashion-MNIST images (a window that moves through a fixed permutation from one
epoch to the next) followed by every training pictogram ``pic_repeat`` times (each repeat augmented anew).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import data, text

OPEN_MEAN = [0.25, 0.25, 0.25]      # rough pixel statistics of the mixed set (x / 255); docs/DECISIONS.md
OPEN_STD = [0.35, 0.35, 0.35]


@dataclass
class ImageData:
    x: Tensor                       # Fashion-MNIST uint8 [N1, 28, 28]
    y: Tensor                       # int64 [N1 + N2]: labels (concept ids), Fashion-MNIST first
    pic: Optional[Tensor] = None    # pictograms uint8 [N2, 32, 32, 4] (open set only)

    @property
    def n_fm(self) -> int:
        return int(self.x.shape[0])


def fm_to_rgb32(x_u8: Tensor) -> Tensor:
    """uint8 ``[B, 28, 28]`` -> float ``[B, 3, 32, 32]`` in [0, 1]: grey replicated, bilinear 28 -> 32
    (``align_corners=False``, no antialiasing: docs/PREPROCESSING.md steps 3 and 5)."""
    x = x_u8.float().unsqueeze(1) / 255.0
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False, antialias=False)
    return x.expand(-1, 3, -1, -1)


def pictures_on_black(rgba_u8: Tensor) -> Tensor:
    """uint8 ``[B, 32, 32, 4]`` -> float ``[B, 3, 32, 32]``: the canonical view (``opendata.on_black``, rounded to
    8 bits as the stored PNG demo images are)."""
    a = rgba_u8[..., 3:].double() / 255
    rgb = torch.round(rgba_u8[..., :3].double() * a)
    return (rgb / 255).permute(0, 3, 1, 2).float().contiguous()


def augment_pictures(rgba_u8: Tensor, gen: torch.Generator) -> Tensor:
    """Pictogram augmentation, uint8 ``[B, 32, 32, 4]`` -> float ``[B, 3, 32, 32]`` in [0, 1]: random scale
    (0.75-1.2), rotation (+-12 degrees) and shift (+-2.4 px) by bilinear resampling of the premultiplied RGBA,
    brightness (x0.8-1.2) and saturation (x0.6-1.3) jitter, then the alpha composited on a background: black (1/2),
    white (1/5), a grey level (3/20) or a random colour (3/20). Deterministic given ``gen``."""
    B = rgba_u8.shape[0]
    x = rgba_u8.permute(0, 3, 1, 2).float() / 255
    a = x[:, 3:]
    prem = torch.cat([x[:, :3] * a, a], 1)
    u = lambda lo, hi, *shape: lo + (hi - lo) * torch.rand(*(shape or (B,)), generator=gen)
    s = u(0.75, 1.2)
    r = u(-12.0, 12.0) * math.pi / 180
    tx, ty = u(-0.15, 0.15), u(-0.15, 0.15)
    theta = torch.stack([torch.stack([torch.cos(r) / s, -torch.sin(r) / s, tx], -1),
                         torch.stack([torch.sin(r) / s, torch.cos(r) / s, ty], -1)], 1)
    grid = F.affine_grid(theta, list(prem.shape), align_corners=False)
    prem = F.grid_sample(prem, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    rgb, a = prem[:, :3], prem[:, 3:].clamp(0, 1)
    bright = u(0.8, 1.2)[:, None, None, None]
    sat = u(0.6, 1.3)[:, None, None, None]
    grey = rgb.mean(1, keepdim=True)
    rgb = (grey + sat * (rgb - grey)) * bright
    rgb = torch.minimum(rgb.clamp_min(0), a)
    kind = torch.rand(B, generator=gen)
    level = torch.rand(B, generator=gen)
    colour = torch.rand(B, 3, generator=gen)
    bg = torch.zeros(B, 3)
    bg = torch.where((kind >= 0.5)[:, None] & (kind < 0.7)[:, None], torch.ones(B, 3), bg)
    bg = torch.where((kind >= 0.7)[:, None] & (kind < 0.85)[:, None], level[:, None].expand(B, 3), bg)
    bg = torch.where((kind >= 0.85)[:, None], colour, bg)
    return (rgb + (1 - a) * bg[:, :, None, None]).clamp(0, 1)


class FashionSet:
    """Fashion-MNIST, 1x28x28, the 10 classes (the ``default`` configuration; behaviour of issue 4)."""
    kind = "fashion-mnist"
    in_channels, image_size = 1, [28, 28]
    mean, std = [data.MEAN], [data.STD]

    def __init__(self, cfg):
        self.cfg = cfg

    def class_names(self) -> list[str]:
        return list(data.CLASSES)

    def seen(self) -> list[int]:
        bad = set(self.cfg.holdout_classes)
        unknown = bad - set(data.CLASSES)
        if unknown:
            raise SystemExit(f"holdout_classes: unknown class(es) {sorted(unknown)}")
        return [i for i, c in enumerate(data.CLASSES) if c not in bad]

    def split(self, split: str, only_seen: bool = True) -> ImageData:
        limit = {"train": self.cfg.n_train, "val": self.cfg.n_val, "test": self.cfg.n_test}[split]
        x, y = data.load_split(split, limit)
        if only_seen and self.cfg.holdout_classes:
            keep = torch.isin(y, torch.tensor(self.seen()))
            x, y = x[keep], y[keep]
        return ImageData(x, y)

    def epoch_size(self, d: ImageData) -> int:
        return len(d.y)

    def batch(self, d: ImageData, idx: Tensor, gen: Optional[torch.Generator], epoch: int) -> tuple[Tensor, Tensor]:
        x = d.x[idx]
        if gen is not None:
            x = data.augment(x, gen)
        return data.normalize(x), d.y[idx]

    def eval_x(self, d: ImageData, i: int, j: int) -> Tensor:
        return data.normalize(d.x[i:j])


class OpenSet:
    """Fashion-MNIST plus the pictogram concepts of ``opendata.py``, 3x32x32 (the ``open`` configuration)."""
    kind = "open"
    in_channels, image_size = 3, [32, 32]
    mean, std = OPEN_MEAN, OPEN_STD

    def __init__(self, cfg, cache_dir, log=None):
        from . import opendata
        self.cfg = cfg
        self.od = opendata.load(cache_dir, cfg.open_limit, log=log)
        self._captions: Optional[list] = None             # captions(), built once

    def class_names(self) -> list[str]:
        return self.od.names()

    def seen(self) -> list[int]:
        return self.od.seen()

    def heldout(self) -> list[int]:
        return self.od.heldout()

    def captions(self) -> list[list[str]]:
        """Per concept (label order): its extra training captions; the 10 garments' WordNet captions with the
        configuration's ``fm_wordnet_captions``."""
        if self._captions is None:     # once: the garment captions read all of WordNet
            caps = [list(c.captions) for c in self.od.concepts]
            if self.cfg.fm_wordnet_captions:
                from . import opendata
                for i, extra in enumerate(opendata.fmnist_wordnet_captions(self.od.heldout_phrases())):
                    caps[i] += [x for x in extra if x not in caps[i]]
            self._captions = caps
        return [list(c) for c in self._captions]

    def concept_texts(self, templates: list[str]) -> list[list[str]]:
        """Per concept: its name in every template, then its extra captions (the teacher's class bank)."""
        return [[t.format(c.name) for t in templates] + caps for c, caps in zip(self.od.concepts, self.captions())]

    def split(self, split: str, only_seen: bool = True) -> ImageData:
        limit = {"train": self.cfg.n_train, "val": self.cfg.n_val, "test": self.cfg.n_test, "heldout": 1}[split]
        x, y = data.load_split("test" if split == "heldout" else split, limit)
        pic_split = "heldout" if split == "heldout" else split
        rgba, py = self.od.split(pic_split)
        if split == "heldout":
            x, y = x[:0], y[:0]
        return ImageData(x, torch.cat([y, torch.from_numpy(py)]), torch.from_numpy(np.ascontiguousarray(rgba)))

    def epoch_size(self, d: ImageData) -> int:
        fm = d.n_fm if self.cfg.fm_per_epoch is None else min(self.cfg.fm_per_epoch, d.n_fm)
        return fm + self.cfg.pic_repeat * (len(d.y) - d.n_fm)

    def _fm_perm(self, n: int) -> Tensor:
        g = torch.Generator().manual_seed(12345)
        return torch.randperm(n, generator=g)

    def batch(self, d: ImageData, idx: Tensor, gen: Optional[torch.Generator], epoch: int) -> tuple[Tensor, Tensor]:
        """Virtual epoch indices (module docstring) -> normalised ``[b, 3, 32, 32]``, concept ids ``[b]``."""
        n_fm = d.n_fm
        fm_n = n_fm if self.cfg.fm_per_epoch is None else min(self.cfg.fm_per_epoch, n_fm)
        n_pic = len(d.y) - n_fm
        is_fm = idx < fm_n
        perm = self._fm_perm(n_fm)
        fi = perm[(epoch * fm_n + idx[is_fm]) % n_fm]
        pi = (idx[~is_fm] - fm_n) % max(1, n_pic)
        out = torch.empty(len(idx), 3, 32, 32)
        y = torch.empty(len(idx), dtype=torch.long)
        if len(fi):
            xf = d.x[fi]
            if gen is not None:
                xf = data.augment(xf, gen)
            out[is_fm] = fm_to_rgb32(xf)
            y[is_fm] = d.y[fi]
        if len(pi):
            rg = d.pic[pi]
            out[~is_fm] = augment_pictures(rg, gen) if gen is not None else pictures_on_black(rg)
            y[~is_fm] = d.y[n_fm + pi]
        return self.normalize(out), y

    def normalize(self, x: Tensor) -> Tensor:
        m = torch.tensor(self.mean)[None, :, None, None]
        s = torch.tensor(self.std)[None, :, None, None]
        return (x - m) / s

    def eval_x(self, d: ImageData, i: int, j: int) -> Tensor:
        """Images ``i..j`` of the split without augmentation (canonical views), normalised."""
        parts = []
        if i < d.n_fm:
            parts.append(fm_to_rgb32(d.x[i:min(j, d.n_fm)]))
        if j > d.n_fm:
            parts.append(pictures_on_black(d.pic[max(0, i - d.n_fm):j - d.n_fm]))
        return self.normalize(torch.cat(parts))


def make(cfg, cache_dir, log=None):
    if cfg.dataset == "fashion-mnist":
        return FashionSet(cfg)
    if cfg.dataset == "open":
        return OpenSet(cfg, cache_dir, log=log)
    raise SystemExit(f"dataset {cfg.dataset!r}: expected fashion-mnist or open")
