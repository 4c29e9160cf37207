"""Deterministic safetensors writing and strict header reading.

The ``safetensors`` package writes ``__metadata__`` in a process-dependent order, so files would not be
byte-identical between runs; this module writes the (simple, documented) format itself:
8-byte little-endian header length, a JSON header padded with spaces to a multiple of 8, then the data.
Header keys: ``__metadata__`` first (keys sorted), then tensors sorted by (element size descending, name);
data laid out in that order, so every tensor is aligned to its element size. Files written here are read
back with the ``safetensors`` package in the tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

MAX_HEADER_BYTES = 100 * 1024 * 1024

_DTYPE_NAME = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}
_NAME_SIZE = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2,
              "U16": 2, "I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


class SafetensorsFormatError(ValueError):
    """A safetensors file is malformed (truncated, oversized header, inconsistent offsets...)."""


def _tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        arr = t.view(torch.int16).numpy()
    else:
        arr = t.numpy()
    return arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()


def serialize(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> bytes:
    """Tensors + string metadata -> safetensors bytes (deterministic). Raises ``TypeError`` on a bad dtype."""
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"metadata {k!r}: keys and values must be str")
    order = sorted(tensors, key=lambda n: (-_NAME_SIZE[_dtype_name(tensors[n], n)], n))
    header: dict = {"__metadata__": {k: metadata[k] for k in sorted(metadata)}} if metadata else {}
    blobs, offset = [], 0
    for name in order:
        b = _tensor_bytes(tensors[name])
        header[name] = {"dtype": _dtype_name(tensors[name], name), "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def _dtype_name(t: torch.Tensor, name: str) -> str:
    try:
        return _DTYPE_NAME[t.dtype]
    except KeyError:
        raise TypeError(f"{name}: dtype {t.dtype} cannot be stored") from None


def write_atomic(path: str | os.PathLike, data: bytes, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same folder and a rename.

    Never replaces an existing file unless ``overwrite``; raises ``FileExistsError`` then.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)        # fails if path appeared meanwhile: no silent overwrite
            except FileExistsError:
                raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)") from None
            except OSError:               # file system without hard links
                if path.exists():
                    raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)") from None
                os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def save(path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str], overwrite: bool = False) -> Path:
    """``serialize`` + ``write_atomic``."""
    return write_atomic(path, serialize(tensors, metadata), overwrite=overwrite)


def read_header(path) -> tuple[dict, dict, int]:
    """Parse and check a safetensors header. Returns ``(metadata, {name: {dtype, shape, data_offsets}}, file_size)``.

    Raises ``SafetensorsFormatError`` for: a file shorter than 8 bytes, a header over 100 MB, a header that is
    not a JSON object, an entry without dtype/shape/data_offsets, offsets that disagree with the shape, and
    data past the end of the file (truncated) — naming the key.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise SafetensorsFormatError(f"{path}: truncated (no 8-byte header length)")
        n = struct.unpack("<Q", head)[0]
        if n > MAX_HEADER_BYTES:
            raise SafetensorsFormatError(f"{path}: header of {n} bytes exceeds the 100 MB limit")
        if 8 + n > size:
            raise SafetensorsFormatError(f"{path}: truncated header ({n} bytes announced, {size - 8} present)")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsFormatError(f"{path}: header is not valid JSON ({e})") from e
    if not isinstance(header, dict):
        raise SafetensorsFormatError(f"{path}: header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    data_size = size - 8 - n
    for name, info in header.items():
        try:
            dtype, shape, (a, b) = info["dtype"], info["shape"], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise SafetensorsFormatError(f"{name}: malformed header entry {info!r}") from None
        if dtype not in _NAME_SIZE:
            raise SafetensorsFormatError(f"{name}: unknown dtype {dtype!r}")
        want = int(np.prod(shape, dtype=np.int64)) * _NAME_SIZE[dtype]
        if b - a != want or a < 0:
            raise SafetensorsFormatError(f"{name}: data_offsets {[a, b]} hold {b - a} bytes, "
                                         f"shape {shape} {dtype} needs {want}")
        if b > data_size:
            raise SafetensorsFormatError(f"{name}: truncated data (needs bytes up to {b}, file has {data_size})")
    return meta, header, size


def sha256_file(path) -> str:
    """Hex SHA-256 of the file at ``path``, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
