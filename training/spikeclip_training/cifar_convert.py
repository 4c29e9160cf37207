"""Convert the pickled CIFAR downloads to the binary layout ``spikeclip eval --dataset cifar10|cifar100`` reads, running
no code from the pickles (issue 14).

    python -m spikeclip_training.cifar_convert --src cifar-10-batches-py --out DIR
    python -m spikeclip_training.cifar_convert --src cifar-100-python --out DIR

CIFAR-10 (``data_batch_1..5``, ``test_batch``: dicts with ``data`` uint8 ``[N, 3072]`` and ``labels``) becomes
``DIR/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin`` (records of 1 label byte + 3,072 pixel bytes);
CIFAR-100 (``train``, ``test``: ``data``, ``coarse_labels``, ``fine_labels``) becomes ``DIR/cifar-100-binary/
{train,test}.bin`` (coarse byte, fine byte, pixels): the layouts of the official binary distributions.

The pickles are read by an unpickler that builds only plain containers, numbers, bytes and numpy arrays (numpy's
``_reconstruct``, ``ndarray``, ``dtype``, ``scalar``, and ``_codecs.encode`` for protocol-2 bytes); any other global (``os.system``, ``builtins.exec``) is refused before
anything runs. Errors are one line naming the file.
"""

from __future__ import annotations

import argparse
import io
import pickle
import sys
from pathlib import Path

import numpy as np

ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python 3 writes bytes in protocol-2 pickles (torch's weights_only allows it too)
}


class CIFARError(ValueError):
    """A file that is not a CIFAR batch; one-line message naming it."""


class _Restricted(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")


def load_batch(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            obj = _Restricted(io.BytesIO(f.read()), encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise CIFARError(f"{path}: refused, not a plain CIFAR batch ({' '.join(str(e).split())[:160]})") from None
    except Exception as e:
        raise CIFARError(f"{path}: not a readable CIFAR batch ({type(e).__name__}: {' '.join(str(e).split())[:160]})") from None
    if not isinstance(obj, dict):
        raise CIFARError(f"{path}: holds a {type(obj).__name__}, not a CIFAR batch dict")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _records(path: Path, batch: dict, label_keys: list[str], limits: list[int]) -> bytes:
    data = batch.get("data")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise CIFARError(f"{path}: 'data' is not a uint8 [N, 3072] array")
    labels = []
    for key, limit in zip(label_keys, limits):
        values = batch.get(key)
        if not isinstance(values, (list, np.ndarray)) or len(values) != data.shape[0]:
            raise CIFARError(f"{path}: '{key}' does not hold one label per image")
        arr = np.asarray(values)
        if arr.dtype.kind not in "iu" or arr.min(initial=0) < 0 or arr.max(initial=0) >= limit:
            raise CIFARError(f"{path}: '{key}' labels must be integers 0-{limit - 1}")
        labels.append(arr.astype(np.uint8))
    return np.concatenate([np.stack(labels, 1), data], axis=1).tobytes()


def convert(src: Path, out: Path) -> list[Path]:
    """Writes the binary batches; returns their paths. Raises ``CIFARError``."""
    src = Path(src)
    if (src / "test_batch").exists():
        names, keys, limits, folder = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], ["labels"], [10], "cifar-10-batches-bin"
    elif (src / "test").exists():
        names, keys, limits, folder = ["train", "test"], ["coarse_labels", "fine_labels"], [20, 100], "cifar-100-binary"
    else:
        raise CIFARError(f"{src}: neither cifar-10-batches-py (test_batch) nor cifar-100-python (test)")
    # Every batch is read and checked before anything is written (a refused file leaves no output behind).
    blobs = [(n, _records(src / n, load_batch(src / n), keys, limits)) for n in names if (src / n).exists()]
    target = Path(out) / folder
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CIFARError(f"{out}: cannot create {folder} there ({e.strerror or e})") from None
    written = []
    for n, blob in blobs:
        dest = target / f"{n}.bin"
        tmp = dest.with_suffix(".bin.tmp")
        tmp.write_bytes(blob)
        tmp.replace(dest)
        written.append(dest)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--src", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    try:
        for path in convert(args.src, args.out):
            print(f"wrote {path}")
    except CIFARError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
