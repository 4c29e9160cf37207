"""Reading the files the official SpikeCLIP code writes, without running code from them (issue 14, first step).

The official training scripts save timm ``CheckpointSaver`` files (``model_best.pth.tar``, ``checkpoint-N.pth.tar``):
a pickled dict with ``state_dict`` (keys prefixed ``module.`` under DDP), ``epoch``, ``optimizer`` and sometimes ``args``
(an ``argparse.Namespace``); bare state dicts (``.pth``, ``.bin``) and safetensors files occur too.

``load_state_dict(path)`` returns ``(state_dict, args)``. Pickles go through ``torch.load(weights_only=True)``, torch's
restricted unpickler: only tensors, storages, plain containers and numbers are built, plus the globals allow-listed
here (``argparse.Namespace``, ``collections.OrderedDict``); a file that names any other global (``os.system``,
``builtins.exec``, a class of the training code) is refused before anything is called. Every failure is an
``OfficialFileError`` with a one-line message naming the file (and the key, where there is one).
"""

from __future__ import annotations

import argparse
import collections
import pickle
import struct
from pathlib import Path

import torch

ALLOWED_GLOBALS = [argparse.Namespace, collections.OrderedDict]
DROPPED_SUFFIXES = (".num_batches_tracked", ".position_ids")
MAX_HEADER = 100 << 20


class OfficialFileError(ValueError):
    """A file that cannot be read as an official checkpoint; the message is one line and names the file."""


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


def _is_safetensors(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 0 < n <= MAX_HEADER and head[8:9] == b"{"


def _load_pickle(path: Path):
    try:
        with torch.serialization.safe_globals(ALLOWED_GLOBALS):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch names a refused global on a line of its message ("Unsupported global: GLOBAL posix.system ..." or
        # "Trying to load unsupported GLOBAL posix.system whose module posix is blocked."); other failures (a PNG, a
        # damaged pickle) are not requests to run code.
        lines = [l.split("WeightsUnpickler error:")[-1].strip() for l in str(e).splitlines()]
        hit = next((l for l in lines if "global" in l.lower() and ("unsupported" in l.lower() or "blocked" in l.lower())), None)
        if hit:
            raise OfficialFileError(f"{path}: refused, the file asks to run code, which is never done here ({_one_line(hit, 160)})") from None
        raise OfficialFileError(f"{path}: not a PyTorch checkpoint (its bytes are not a pickle torch can read)") from None
    except EOFError:
        raise OfficialFileError(f"{path}: empty or truncated (the file ends early)") from None
    except RuntimeError as e:
        if "PytorchStreamReader" in str(e) or "zip" in str(e).lower():
            raise OfficialFileError(f"{path}: truncated or damaged (its zip archive cannot be read)") from None
        raise OfficialFileError(f"{path}: not a readable checkpoint ({type(e).__name__}: {_one_line(e, 160)})") from None
    except Exception as e:  # zipfile, torch's other errors, safetensors' parser (torch.load routes .safetensors names there)
        raise OfficialFileError(f"{path}: not a readable checkpoint ({type(e).__name__}: {_one_line(e, 160)})") from None


def _unwrap(obj, path: Path):
    """``(state_dict, args)`` from a timm saver dict, a bare state dict, or a dict holding ``model``/``state_dict``."""
    args = None
    if isinstance(obj, dict):
        a = obj.get("args")
        if isinstance(a, argparse.Namespace):
            args = dict(vars(a))
        elif isinstance(a, dict):
            args = dict(a)
        for key in ("state_dict", "model", "module", "state_dict_ema"):
            if isinstance(obj.get(key), dict):
                return obj[key], args
        return obj, args
    raise OfficialFileError(f"{path}: holds a {type(obj).__name__}, not a state dict or a checkpoint dict")


def load_state_dict(path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """The tensors of an official checkpoint (``module.`` stripped, ``num_batches_tracked``/``position_ids``
    dropped) and its saved ``args`` as a dict when present.

    Raises ``OfficialFileError`` (one line, naming the file and the key)."""
    path = Path(path)
    if path.is_dir():
        raise OfficialFileError(f"{path}: is a folder; give the checkpoint file (model_best.pth.tar, checkpoint-N.pth.tar, ...)")
    if not path.is_file():
        raise OfficialFileError(f"{path}: no such file")
    if _is_safetensors(path):
        from safetensors.torch import load_file
        try:
            raw, args = load_file(str(path)), None
        except Exception as e:  # the Rust parser's SafetensorError is not exported under one stable name
            raise OfficialFileError(f"{path}: not a readable safetensors file ({_one_line(e, 160)})") from None
    else:
        raw, args = _unwrap(_load_pickle(path), path)
    out: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            raise OfficialFileError(f"{path}: state dict key {key!r:.60} is not a string")
        name = key[len("module."):] if key.startswith("module.") else key
        if name.endswith(DROPPED_SUFFIXES):
            continue
        if not isinstance(value, torch.Tensor):
            raise OfficialFileError(f"{path}: '{_one_line(name, 120)}' is a {type(value).__name__}, not a tensor")
        if not (value.is_floating_point() or value.dtype in (torch.int64, torch.int32)):
            raise OfficialFileError(f"{path}: '{_one_line(name, 120)}' has dtype {value.dtype}")
        if name in out:
            raise OfficialFileError(f"{path}: '{_one_line(name, 120)}' appears with and without the module. prefix")
        out[name] = value
    if not out:
        raise OfficialFileError(f"{path}: no tensors")
    return out, args
