"""Checkpoint export and strict loading (docs/CHECKPOINT.md, SPEC section 3).

A checkpoint is one safetensors file: ``__metadata__`` = ``format`` "spikeclip", ``format_version`` "1",
``config`` (JSON of ``SpikeCLIPConfig``); tensors = the ``SpikeCLIP`` state dict (prefixes ``vision.``,
``text.``, ``ann_vision.`` + official keys) without ``num_batches_tracked``; BatchNorm unfolded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional

import torch
from safetensors import safe_open

from . import st_io
from .config import SpikeCLIPConfig
from .model import SpikeCLIP

FORMAT = "spikeclip"
FORMAT_VERSION = "1"
DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
_ALLOWED_FILE_DTYPES = {"F32", "F16", "BF16"}


class CheckpointError(ValueError):
    """A checkpoint violates docs/CHECKPOINT.md; the message names the key (and both shapes for a mismatch)."""


def export_state_dict(model: SpikeCLIP) -> dict[str, torch.Tensor]:
    """The tensors a checkpoint holds: ``model.state_dict()`` minus ``*.num_batches_tracked`` (name -> tensor)."""
    return {k: v for k, v in model.state_dict().items() if not k.endswith(".num_batches_tracked")}


def checkpoint_bytes(model: SpikeCLIP, config: SpikeCLIPConfig, dtype: str = "f32",
                     dtypes: Optional[Mapping[str, str]] = None) -> bytes:
    """Serialise ``model`` + ``config`` as checkpoint bytes; ``dtype`` in {"f32", "f16", "bf16"}.

    ``dtypes`` optionally overrides the dtype of single tensors by key (mixed-precision checkpoints, e.g. the
    large frozen word embeddings in F16 and everything else in F32).
    Raises ``ValueError`` for another dtype or an override naming an unknown key.
    """
    dtypes = dict(dtypes or {})
    for name in [dtype, *dtypes.values()]:
        if name not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {name!r}")
    config.validate()
    state = export_state_dict(model)
    unknown = sorted(set(dtypes) - set(state))
    if unknown:
        raise ValueError(f"dtype override for unknown key {unknown[0]!r}")
    tensors = {k: v.detach().to(DTYPES[dtypes.get(k, dtype)]) for k, v in state.items()}
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": config.to_json()}
    return st_io.serialize(tensors, meta)


def save_checkpoint(model: SpikeCLIP, config: SpikeCLIPConfig, path: str | os.PathLike, dtype: str = "f32",
                    overwrite: bool = False, dtypes: Optional[Mapping[str, str]] = None) -> Path:
    """Write a checkpoint atomically (temp file + rename); ``dtypes`` as in ``checkpoint_bytes``.

    Raises ``FileExistsError`` if ``path`` exists and not ``overwrite``; ``ValueError`` for a bad dtype.
    """
    return st_io.write_atomic(path, checkpoint_bytes(model, config, dtype, dtypes), overwrite=overwrite)


def read_checkpoint_config(path: str | os.PathLike) -> SpikeCLIPConfig:
    """Read and validate only the header metadata of a checkpoint. Raises ``CheckpointError``."""
    try:
        meta, _, _ = st_io.read_header(path)
    except st_io.SafetensorsFormatError as e:
        raise CheckpointError(str(e)) from e
    return _config_from_meta(meta)


def _config_from_meta(meta: Mapping[str, str]) -> SpikeCLIPConfig:
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"__metadata__.format: expected {FORMAT!r}, got {meta.get('format')!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"__metadata__.format_version: expected {FORMAT_VERSION!r}, "
                              f"got {meta.get('format_version')!r}")
    if "config" not in meta:
        raise CheckpointError("__metadata__.config: missing")
    try:
        return SpikeCLIPConfig.from_json(meta["config"])
    except ValueError as e:
        raise CheckpointError(f"__metadata__.config: {e}") from e


def load_checkpoint(path: str | os.PathLike, dtype: torch.dtype = torch.float32) -> tuple[SpikeCLIP, SpikeCLIPConfig]:
    """Load a checkpoint into a fresh ``SpikeCLIP`` (eval mode, parameters in ``dtype``). Strict:

    - unknown key, missing key, wrong shape (names the key and both shapes), dtype other than F32/F16/BF16,
      truncated data, header over 100 MB, wrong/missing format metadata -> ``CheckpointError``;
    - ``*.num_batches_tracked`` entries of BatchNorm layers (official state dicts) are ignored.
    """
    try:
        meta, header, _ = st_io.read_header(path)
    except st_io.SafetensorsFormatError as e:
        raise CheckpointError(str(e)) from e
    cfg = _config_from_meta(meta)
    model = SpikeCLIP(cfg)
    expected = export_state_dict(model)
    for name in sorted(header):
        if name not in expected:
            if name.endswith(".num_batches_tracked") and \
                    name[: -len("num_batches_tracked")] + "running_mean" in expected:
                continue
            raise CheckpointError(f"unknown key {name!r} (shape {header[name]['shape']})")
        want, got = list(expected[name].shape), list(header[name]["shape"])
        if want != got:
            raise CheckpointError(f"{name}: shape {got} in file, expected {want}")
        if header[name]["dtype"] not in _ALLOWED_FILE_DTYPES:
            raise CheckpointError(f"{name}: dtype {header[name]['dtype']} not allowed (F32, F16 or BF16)")
    missing = sorted(set(expected) - set(header))
    if missing:
        raise CheckpointError(f"missing key {missing[0]!r} (expected shape {list(expected[missing[0]].shape)})"
                              + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    state = {}
    with safe_open(str(path), framework="pt") as f:
        for name in expected:
            state[name] = f.get_tensor(name).to(dtype)
    model = model.to(dtype)
    model.load_state_dict(state, strict=False)   # keys already checked; BN counters are not in the file
    model.eval()
    return model, cfg
