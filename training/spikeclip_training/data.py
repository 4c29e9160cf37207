"""Fashion-MNIST loading, the fixed train/validation split and deterministic augmentation.

Data: Debian package ``dataset-fashion-mnist`` (IDX gz files, MIT licence) under
``/usr/share/datasets/fashion-mnist/`` (override with ``$SPIKECLIP_FMNIST_DIR``).

Splits (fixed, independent of the seed):

- ``train``: images ``0 .. 54999`` of the 60k training file;
- ``val``:   images ``55000 .. 59999`` of the training file (every model-selection decision);
- ``test``:  the 10k ``t10k`` file (read only by the ``evaluate`` stage).

Preprocessing (SPEC 2 / checkpoint ``preprocess``): ``pixel = (x / 255 - 0.2860) / 0.3530``, one channel, 28x28.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import Tensor

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MEAN, STD = 0.2860, 0.3530          # Fashion-MNIST training-set pixel statistics (x / 255)
N_TRAIN_FILE, N_VAL = 60000, 5000
TRAIN_END = N_TRAIN_FILE - N_VAL    # 55000

_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def data_dir() -> Path:
    return Path(os.environ.get("SPIKECLIP_FMNIST_DIR", "/usr/share/datasets/fashion-mnist"))


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX (gzip) file: uint8 images ``[N, 28, 28]`` or labels ``[N]``. Raises ``ValueError`` if malformed."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    if magic >> 8 != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {magic:#x})")
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {arr.size} bytes of data, header says {dims}")
    return arr.reshape(dims)


_CACHE: dict = {}


def _file_split(kind: str) -> tuple[np.ndarray, np.ndarray]:
    if kind not in _CACHE:
        img, lab = _FILES[kind]
        _CACHE[kind] = (read_idx(data_dir() / img), read_idx(data_dir() / lab))
    return _CACHE[kind]


def load_split(split: str, limit: Optional[int] = None) -> tuple[Tensor, Tensor]:
    """Images ``[N, 28, 28]`` uint8 and labels ``[N]`` int64 of ``split`` in {"train", "val", "test"}.

    ``limit`` keeps the first ``limit`` items of the split (smoke configuration); the split boundaries never move.
    """
    if split == "train":
        x, y = _file_split("train")
        x, y = x[:TRAIN_END], y[:TRAIN_END]
    elif split == "val":
        x, y = _file_split("train")
        x, y = x[TRAIN_END:], y[TRAIN_END:]
    elif split == "test":
        x, y = _file_split("test")
    else:
        raise ValueError(f"unknown split {split!r}")
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return torch.from_numpy(np.array(x, copy=True)), torch.from_numpy(y.astype(np.int64))


def normalize(images_u8: Tensor) -> Tensor:
    """uint8 ``[B, 28, 28]`` (or ``[B, 1, 28, 28]``) -> float32 ``[B, 1, 28, 28]`` preprocessed pixels."""
    x = images_u8.float()
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return (x / 255.0 - MEAN) / STD


def augment(images_u8: Tensor, gen: torch.Generator, pad: int = 2) -> Tensor:
    """Random translation by up to ``pad`` pixels (zero padding, i.e. crop of a padded image) and horizontal flip
    with probability 1/2. ``[B, 28, 28]`` uint8 -> same shape; deterministic given ``gen``."""
    B, H, W = images_u8.shape
    padded = torch.zeros(B, H + 2 * pad, W + 2 * pad, dtype=images_u8.dtype)
    padded[:, pad:pad + H, pad:pad + W] = images_u8
    dy = torch.randint(0, 2 * pad + 1, (B,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (B,), generator=gen)
    flip = torch.rand(B, generator=gen) < 0.5
    rows = (dy[:, None] + torch.arange(H)[None, :])                        # [B, H]
    cols = (dx[:, None] + torch.arange(W)[None, :])                        # [B, W]
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    bidx = torch.arange(B)[:, None, None]
    return padded[bidx, rows[:, :, None], cols[:, None, :]]
